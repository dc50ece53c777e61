//! WBXML global tokens (WBXML 1.3, section 7.1) and the tag code pages of SyncML DM
//! (SyncML Representation Protocol 1.2 and SyncML Meta-Information 1.2, their WBXML code page
//! definitions; OMA DM Tree and Description 1.2.1, "WBXML Definition", for the DM DDF page).
//! The three tables agree token for token with libwbxml's `src/wbxml_tables.c`
//! (`sv_syncml_syncml12_tag_table`, `sv_syncml_dmddf12_tag_table`).

/// `SWITCH_PAGE`: the next byte is the new code page.
pub const SWITCH_PAGE: u8 = 0x00;
/// `END`: closes an element or an attribute list.
pub const END: u8 = 0x01;
/// `ENTITY`: an mb_u_int32 character code.
pub const ENTITY: u8 = 0x02;
/// `STR_I`: an inline NUL-terminated string.
pub const STR_I: u8 = 0x03;
/// `LITERAL`: a tag named by a string-table offset (no content, no attributes).
pub const LITERAL: u8 = 0x04;
/// `EXT_I_0` .. `EXT_I_2`: inline string extensions.
pub const EXT_I_0: u8 = 0x40;
/// `EXT_I_2`.
pub const EXT_I_2: u8 = 0x42;
/// `PI`: a processing instruction.
pub const PI: u8 = 0x43;
/// `LITERAL_C`: a literal tag with content.
pub const LITERAL_C: u8 = 0x44;
/// `EXT_T_0` .. `EXT_T_2`: string-table extensions.
pub const EXT_T_0: u8 = 0x80;
/// `EXT_T_2`.
pub const EXT_T_2: u8 = 0x82;
/// `STR_T`: a string-table offset.
pub const STR_T: u8 = 0x83;
/// `LITERAL_A`: a literal tag with attributes.
pub const LITERAL_A: u8 = 0x84;
/// `EXT_0` .. `EXT_2`: single-byte extensions.
pub const EXT_0: u8 = 0xC0;
/// `EXT_2`.
pub const EXT_2: u8 = 0xC2;
/// `OPAQUE`: an mb_u_int32 length and that many bytes.
pub const OPAQUE: u8 = 0xC3;
/// `LITERAL_AC`: a literal tag with attributes and content.
pub const LITERAL_AC: u8 = 0xC4;

/// Tag bit: the element has content (WBXML 1.3, section 5.8.2).
pub const HAS_CONTENT: u8 = 0x40;
/// Tag bit: the element has attributes.
pub const HAS_ATTRIBUTES: u8 = 0x80;

/// Code page 0, SyncML (SyncML Representation Protocol 1.2, WBXML code page; 0x35-0x3B are the
/// SyncML 1.2 DS additions, 0x3C `Correlator` the DM one).
pub const SYNCML: &[(u8, &str)] = &[
    (0x05, "Add"),
    (0x06, "Alert"),
    (0x07, "Archive"),
    (0x08, "Atomic"),
    (0x09, "Chal"),
    (0x0A, "Cmd"),
    (0x0B, "CmdID"),
    (0x0C, "CmdRef"),
    (0x0D, "Copy"),
    (0x0E, "Cred"),
    (0x0F, "Data"),
    (0x10, "Delete"),
    (0x11, "Exec"),
    (0x12, "Final"),
    (0x13, "Get"),
    (0x14, "Item"),
    (0x15, "Lang"),
    (0x16, "LocName"),
    (0x17, "LocURI"),
    (0x18, "Map"),
    (0x19, "MapItem"),
    (0x1A, "Meta"),
    (0x1B, "MsgID"),
    (0x1C, "MsgRef"),
    (0x1D, "NoResp"),
    (0x1E, "NoResults"),
    (0x1F, "Put"),
    (0x20, "Replace"),
    (0x21, "RespURI"),
    (0x22, "Results"),
    (0x23, "Search"),
    (0x24, "Sequence"),
    (0x25, "SessionID"),
    (0x26, "SftDel"),
    (0x27, "Source"),
    (0x28, "SourceRef"),
    (0x29, "Status"),
    (0x2A, "Sync"),
    (0x2B, "SyncBody"),
    (0x2C, "SyncHdr"),
    (0x2D, "SyncML"),
    (0x2E, "Target"),
    (0x2F, "TargetRef"),
    (0x31, "VerDTD"),
    (0x32, "VerProto"),
    (0x33, "NumberOfChanges"),
    (0x34, "MoreData"),
    (0x35, "Field"),
    (0x36, "Filter"),
    (0x37, "Record"),
    (0x38, "FilterType"),
    (0x39, "SourceParent"),
    (0x3A, "TargetParent"),
    (0x3B, "Move"),
    (0x3C, "Correlator"),
];

/// Code page 1, MetInf (SyncML Meta-Information 1.2, WBXML code page; `FieldLevel` 0x16 is 1.2).
pub const METINF: &[(u8, &str)] = &[
    (0x05, "Anchor"),
    (0x06, "EMI"),
    (0x07, "Format"),
    (0x08, "FreeID"),
    (0x09, "FreeMem"),
    (0x0A, "Last"),
    (0x0B, "Mark"),
    (0x0C, "MaxMsgSize"),
    (0x0D, "Mem"),
    (0x0E, "MetInf"),
    (0x0F, "Next"),
    (0x10, "NextNonce"),
    (0x11, "SharedMem"),
    (0x12, "Size"),
    (0x13, "Type"),
    (0x14, "Version"),
    (0x15, "MaxObjSize"),
    (0x16, "FieldLevel"),
];

/// Code page 2, DM DDF (OMA DM Tree and Description 1.2.1, "WBXML Definition"), used for TNDS / DDF inside `Data`.
/// Names are case-sensitive here: `Node` (0x24) is an element, `node` (0x25) a DFFormat value.
pub const DMDDF: &[(u8, &str)] = &[
    (0x05, "AccessType"),
    (0x06, "ACL"),
    (0x07, "Add"),
    (0x08, "b64"),
    (0x09, "bin"),
    (0x0A, "bool"),
    (0x0B, "chr"),
    (0x0C, "CaseSense"),
    (0x0D, "CIS"),
    (0x0E, "Copy"),
    (0x0F, "CS"),
    (0x10, "date"),
    (0x11, "DDFName"),
    (0x12, "DefaultValue"),
    (0x13, "Delete"),
    (0x14, "Description"),
    (0x15, "DFFormat"),
    (0x16, "DFProperties"),
    (0x17, "DFTitle"),
    (0x18, "DFType"),
    (0x19, "Dynamic"),
    (0x1A, "Exec"),
    (0x1B, "float"),
    (0x1C, "Format"),
    (0x1D, "Get"),
    (0x1E, "int"),
    (0x1F, "Man"),
    (0x20, "MgmtTree"),
    (0x21, "MIME"),
    (0x22, "Mod"),
    (0x23, "Name"),
    (0x24, "Node"),
    (0x25, "node"),
    (0x26, "NodeName"),
    (0x27, "null"),
    (0x28, "Occurrence"),
    (0x29, "One"),
    (0x2A, "OneOrMore"),
    (0x2B, "OneOrN"),
    (0x2C, "Path"),
    (0x2D, "Permanent"),
    (0x2E, "Replace"),
    (0x2F, "RTProperties"),
    (0x30, "Scope"),
    (0x31, "Size"),
    (0x32, "time"),
    (0x33, "Title"),
    (0x34, "TStamp"),
    (0x35, "Type"),
    (0x36, "Value"),
    (0x37, "VerDTD"),
    (0x38, "VerNo"),
    (0x39, "xml"),
    (0x3A, "ZeroOrMore"),
    (0x3B, "ZeroOrN"),
    (0x3C, "ZeroOrOne"),
];

/// The tag table of a code page.
pub fn page(page: u8) -> Option<&'static [(u8, &'static str)]> {
    match page {
        0 => Some(SYNCML),
        1 => Some(METINF),
        2 => Some(DMDDF),
        _ => None,
    }
}

/// The name of a tag token (identity bits only) on a page.
pub fn tag_name(page_no: u8, id: u8) -> Option<&'static str> {
    page(page_no)?.iter().find(|(t, _)| *t == id).map(|(_, n)| *n)
}

/// The token of a tag name on a page: exact spelling first, then ignoring ASCII case.
pub fn tag_token(page_no: u8, name: &str) -> Option<u8> {
    let table = page(page_no)?;
    table
        .iter()
        .find(|(_, n)| *n == name)
        .or_else(|| table.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)))
        .map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        for p in 0..3 {
            let table = page(p).unwrap();
            for (i, (t, n)) in table.iter().enumerate() {
                assert!((0x05..=0x3F).contains(t), "{n}");
                assert!(table[i + 1..].iter().all(|(t2, _)| t2 != t), "duplicate token {t:#x}");
                assert_eq!(tag_name(p, *t), Some(*n));
                assert_eq!(tag_token(p, n), Some(*t));
            }
        }
        assert_eq!(tag_token(2, "node"), Some(0x25));
        assert_eq!(tag_token(2, "Node"), Some(0x24));
        assert_eq!(tag_token(0, "LocUri"), Some(0x17));
    }
}
