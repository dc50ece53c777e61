//! The standard management objects and what they mean for the common model (OMA DM 1.2
//! Standardized Objects §7.1.3; FUMO 1.0; SCOMO 1.0; LAWMO 1.0; oneM2M TS-0005 §5.3 / §6.3):
//! identity from `./DevInfo` and `./DevDetail`, firmware from FUMO `State` and the result codes
//! of its Generic Alert 1226, software from SCOMO, lock / wipe / factory reset from LAWMO,
//! diagnostics from a vendor DiagMon subtree described per device type. Pure
//! translation: the session engine reads the nodes, these functions say what they mean.

pub mod devinfo;
pub mod diagmon;
pub mod fumo;
pub mod lawmo;
pub mod scomo;
pub mod tnds;

use unidm_models::{ErrorKind, OperationError};

/// What the result code of an asynchronous operation (Generic Alert 1226 `Data`) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The operation succeeded.
    Succeeded,
    /// It failed, with the error to report (the code in `protocol_code`).
    Failed(OperationError),
}

impl Outcome {
    fn failed(kind: ErrorKind, code: u32, text: &str) -> Outcome {
        Outcome::Failed(OperationError::new(kind, text).with_code(code.to_string()))
    }
}
