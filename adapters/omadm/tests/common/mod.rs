//! Proptest strategies for SyncML DM messages.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use unidm_omadm::codec::{
    Alert, Chal, Command, Container, Cred, Data, Element, Exec, Item, ItemCommand, Location, Meta, Namespace, Node,
    Results, Status, SyncBody, SyncHdr, SyncML,
};

/// Text either encoding carries unchanged: printable, with markup characters and non-ASCII, no
/// leading or trailing whitespace (the XML reader trims leaves).
pub fn text() -> BoxedStrategy<String> {
    "[ -~éü€中]{0,16}".prop_map(|s| s.trim().to_owned()).boxed()
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(text())
}

pub fn meta() -> BoxedStrategy<Meta> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        option::of(any::<u64>()),
        opt_text(),
        opt_text(),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
    )
        .prop_map(|(format, r#type, mark, size, version, next_nonce, max_msg_size, max_obj_size)| Meta {
            format,
            r#type,
            mark,
            size,
            version,
            next_nonce,
            max_msg_size,
            max_obj_size,
        })
        .boxed()
}

pub fn location() -> BoxedStrategy<Location> {
    (text(), opt_text()).prop_map(|(loc_uri, loc_name)| Location { loc_uri, loc_name }).boxed()
}

pub fn cred() -> BoxedStrategy<Cred> {
    (option::of(meta()), text()).prop_map(|(meta, data)| Cred { meta, data }).boxed()
}

/// DM DDF markup (TNDS): known page-2 names and vendor names that travel as LITERAL tags.
pub fn markup() -> BoxedStrategy<Element> {
    let name = prop_oneof![
        prop::sample::select(vec!["Node", "NodeName", "Path", "RTProperties", "Format", "node", "chr", "Value"])
            .prop_map(str::to_owned),
        "Vnd[a-z]{2,5}",
    ];
    let leaf =
        (name.clone(), option::of("[a-zA-Z0-9./ ]{0,8}".prop_map(|s| s.trim().to_owned()))).prop_map(|(name, text)| {
            let mut el = Element::new(Namespace::DmDdf, name);
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                el.content.push(Node::Text(t));
            }
            el
        });
    leaf.prop_recursive(3, 12, 3, move |inner| {
        (name.clone(), vec(inner, 1..3)).prop_map(|(name, children)| {
            let mut el = Element::new(Namespace::DmDdf, name);
            el.content.extend(children.into_iter().map(Node::Element));
            el
        })
    })
    .boxed()
}

/// Item data both encodings carry: text or markup.
pub fn data() -> BoxedStrategy<Data> {
    prop_oneof![4 => text().prop_map(Data::Text), 1 => vec(markup(), 1..3).prop_map(Data::Markup)].boxed()
}

/// Item data with opaque bytes too (WBXML only).
pub fn binary_data() -> BoxedStrategy<Data> {
    prop_oneof![data(), vec(any::<u8>(), 0..24).prop_map(Data::Opaque)].boxed()
}

pub fn item_with(data: BoxedStrategy<Data>) -> BoxedStrategy<Item> {
    (option::of(location()), option::of(location()), option::of(meta()), option::of(data), any::<bool>())
        .prop_map(|(target, source, meta, data, more_data)| Item { target, source, meta, data, more_data })
        .boxed()
}

fn item_command(data: BoxedStrategy<Data>) -> BoxedStrategy<ItemCommand> {
    (text(), any::<bool>(), option::of(cred()), option::of(meta()), vec(item_with(data), 0..3))
        .prop_map(|(cmd_id, no_resp, cred, meta, items)| ItemCommand { cmd_id, no_resp, cred, meta, items })
        .boxed()
}

fn leaf_command(data: BoxedStrategy<Data>) -> BoxedStrategy<Command> {
    let ic = item_command(data.clone()).boxed();
    prop_oneof![
        (
            text(),
            any::<bool>(),
            option::of(cred()),
            option::of(any::<u16>()),
            opt_text(),
            vec(item_with(data.clone()), 0..3)
        )
            .prop_map(|(cmd_id, no_resp, cred, code, correlator, items)| Command::Alert(Alert {
                cmd_id,
                no_resp,
                cred,
                code,
                correlator,
                items
            })),
        ic.clone().prop_map(Command::Add),
        ic.clone().prop_map(Command::Replace),
        ic.clone().prop_map(Command::Delete),
        ic.clone().prop_map(Command::Copy),
        ic.prop_map(Command::Get),
        (text(), any::<bool>(), option::of(cred()), option::of(meta()), opt_text(), item_with(data.clone())).prop_map(
            |(cmd_id, no_resp, cred, meta, correlator, item)| Command::Exec(Exec {
                cmd_id,
                no_resp,
                cred,
                meta,
                correlator,
                item
            })
        ),
        (
            (text(), opt_text(), text(), text()),
            (vec(text(), 0..2), vec(text(), 0..2), option::of(cred()), option::of(meta())),
            (any::<u16>(), vec(item_with(data.clone()), 0..2)),
        )
            .prop_map(
                |((cmd_id, msg_ref, cmd_ref, cmd), (target_refs, source_refs, cred, chal), (code, items))| {
                    Command::Status(Status {
                        cmd_id,
                        msg_ref,
                        cmd_ref,
                        cmd,
                        target_refs,
                        source_refs,
                        cred,
                        chal: chal.map(|meta| Chal { meta }),
                        code,
                        items,
                    })
                }
            ),
        (
            text(),
            opt_text(),
            text(),
            option::of(meta()),
            vec(text(), 0..2),
            vec(text(), 0..2),
            vec(item_with(data), 0..3)
        )
            .prop_map(|(cmd_id, msg_ref, cmd_ref, meta, target_refs, source_refs, items)| {
                Command::Results(Results { cmd_id, msg_ref, cmd_ref, meta, target_refs, source_refs, items })
            }),
    ]
    .boxed()
}

pub fn command_with(data: BoxedStrategy<Data>) -> BoxedStrategy<Command> {
    leaf_command(data)
        .prop_recursive(2, 8, 3, |inner| {
            (text(), any::<bool>(), option::of(meta()), vec(inner, 1..3), any::<bool>()).prop_map(
                |(cmd_id, no_resp, meta, commands, atomic)| {
                    let c = Container { cmd_id, no_resp, meta, commands };
                    if atomic {
                        Command::Atomic(c)
                    } else {
                        Command::Sequence(c)
                    }
                },
            )
        })
        .boxed()
}

pub fn hdr() -> BoxedStrategy<SyncHdr> {
    (
        (prop::sample::select(vec!["1.2", "1.1"]), prop::sample::select(vec!["DM/1.2", "DM/1.3", "DM/1.1"])),
        (text(), text(), location(), location()),
        (opt_text(), any::<bool>(), option::of(cred()), option::of(meta())),
    )
        .prop_map(|((ver_dtd, ver_proto), (session_id, msg_id, target, source), (resp_uri, no_resp, cred, meta))| {
            SyncHdr {
                ver_dtd: ver_dtd.into(),
                ver_proto: ver_proto.into(),
                session_id,
                msg_id,
                target,
                source,
                resp_uri,
                no_resp,
                cred,
                meta,
            }
        })
        .boxed()
}

fn message_with(data: BoxedStrategy<Data>) -> BoxedStrategy<SyncML> {
    (hdr(), vec(command_with(data), 0..5), any::<bool>())
        .prop_map(|(hdr, commands, r#final)| SyncML { hdr, body: SyncBody { commands, r#final } })
        .boxed()
}

/// Messages both encodings carry.
pub fn message() -> BoxedStrategy<SyncML> {
    message_with(data().boxed()).boxed()
}

/// Messages whose Data is text only (no markup, no opaque bytes): what libwbxml carries.
pub fn plain_message() -> BoxedStrategy<SyncML> {
    message_with(text().prop_map(Data::Text).boxed()).boxed()
}

/// Messages with opaque data as well (WBXML only).
pub fn binary_message() -> BoxedStrategy<SyncML> {
    message_with(binary_data().boxed()).boxed()
}
