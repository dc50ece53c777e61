//! Prints `docs/mapping.md` from the mapping tables in code:
//! `cargo run -p unidm-models --example mapping_md > docs/mapping.md`.

use unidm_models::mapping::TABLES;

fn main() {
    println!("# Mapping tables: common model <-> protocol paths\n");
    println!("Generated from `models/src/mapping.rs` by `cargo run -p unidm-models --example mapping_md`;");
    println!("a test (`mapping::tests::doc_tables_match_code`) fails when this page and the code differ.");
    println!("Attributes are oneM2M short names (`man` manufacturer, `mod` model, `dlb` serial, `dty` device");
    println!("type, `hwv` / `swv` / `fwv` versions, `syst` system time, `ptl` protocol; firmware `url`, `ud`");
    println!("update trigger, `uds` update status, `fwn` name, `vr` version; reboot `rbo`; factory reset `far`).");
    println!("Sources: oneM2M TS-0005 (Management Enablement (OMA)) Table 5.3.2-1 and §6.3.2 for the rows");
    println!("marked normative; the other rows are derived from the LwM2M registry objects 3 and 5, BBF");
    println!("TR-181 Issue 2 Amendment 17 and TR-098 Amendment 8, and OMA DM 1.2.1 DevInfo / DevDetail, FUMO");
    println!("and LAWMO.\n");
    println!("Unit conversions (in `unidm_models::units`): LwM2M memory is kB of 1000 bytes, CWMP memory is KiB;");
    println!("oneM2M battery status = LwM2M `/3/0/20` + 1.\n");
    for t in TABLES {
        println!("## {}\n", t.title);
        println!("<!-- mapping:{} -->", t.name);
        print!("{}", t.to_markdown());
        println!("<!-- /mapping:{} -->\n", t.name);
    }
}
