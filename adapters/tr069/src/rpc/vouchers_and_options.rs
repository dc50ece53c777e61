//! SetVouchers and GetOptions with their responses
//! (TR-069 Amendment 6, A.4.1.3 SetVouchers, A.4.1.4 GetOptions).

use super::common::{array, i32_of, opt_text, text, text_or_empty, u32_of};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `SetVouchers`, ACS to CPE: signed option vouchers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SetVouchers {
    /// `VoucherList`: each voucher as its base64 text, kept as received.
    pub voucher_list: Vec<String>,
}

impl RpcMessage for SetVouchers {
    const NAME: &'static str = "SetVouchers";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(SetVouchers {
            voucher_list: array(el, "SetVouchers", "VoucherList")?.iter().map(|v| v.text.clone()).collect(),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.voucher_list;
        w.start_array("VoucherList", "soap-enc:base64", list.len());
        for v in list {
            w.leaf("base64", v);
        }
        w.end("VoucherList");
    }
}

empty_rpc!(
    /// `SetVouchersResponse`, CPE to ACS (no arguments).
    SetVouchersResponse
);

/// `GetOptions`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetOptions {
    /// `OptionName` (≤ 64); empty for all options.
    pub option_name: String,
}

impl RpcMessage for GetOptions {
    const NAME: &'static str = "GetOptions";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(GetOptions { option_name: text_or_empty(el, "OptionName") })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("OptionName", &self.option_name);
    }
}

/// `OptionStruct`: one option and its voucher state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OptionStruct {
    /// `OptionName` (≤ 64).
    pub option_name: String,
    /// `VoucherSN`.
    pub voucher_sn: u32,
    /// `State`: bit 0 enabled, bit 1 setup complete.
    pub state: u32,
    /// `Mode`: 0 disabled, 1 enabled with expiration, 2 enabled without expiration.
    pub mode: i32,
    /// `StartDate`.
    pub start_date: String,
    /// `ExpirationDate`, absent without expiration.
    pub expiration_date: Option<String>,
    /// `IsTransferable`: 0 or 1.
    pub is_transferable: i32,
}

/// `GetOptionsResponse`, CPE to ACS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GetOptionsResponse {
    /// `OptionList`.
    pub option_list: Vec<OptionStruct>,
}

impl RpcMessage for GetOptionsResponse {
    const NAME: &'static str = "GetOptionsResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        const S: &str = "OptionStruct";
        let option_list = array(el, "GetOptionsResponse", "OptionList")?
            .iter()
            .map(|o| {
                Ok(OptionStruct {
                    option_name: text(o, S, "OptionName")?,
                    voucher_sn: u32_of(o, S, "VoucherSN")?,
                    state: u32_of(o, S, "State")?,
                    mode: i32_of(o, S, "Mode")?,
                    start_date: text(o, S, "StartDate")?,
                    expiration_date: opt_text(o, "ExpirationDate"),
                    is_transferable: i32_of(o, S, "IsTransferable")?,
                })
            })
            .collect::<Result<_, CwmpError>>()?;
        Ok(GetOptionsResponse { option_list })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        let list = &self.option_list;
        w.start_array("OptionList", "cwmp:OptionStruct", list.len());
        for o in list {
            w.start("OptionStruct");
            w.leaf("OptionName", &o.option_name);
            w.leaf_num("VoucherSN", o.voucher_sn);
            w.leaf_num("State", o.state);
            w.leaf_num("Mode", o.mode);
            w.leaf("StartDate", &o.start_date);
            if let Some(d) = &o.expiration_date {
                w.leaf("ExpirationDate", d);
            }
            w.leaf_num("IsTransferable", o.is_transferable);
            w.end("OptionStruct");
        }
        w.end("OptionList");
    }
}
