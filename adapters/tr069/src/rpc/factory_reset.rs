//! FactoryReset and its response (TR-069 Amendment 6, A.4.1.6 FactoryReset).

use super::empty_rpc;

empty_rpc!(
    /// `FactoryReset`, ACS to CPE: reset to factory defaults after the session (no arguments).
    FactoryReset
);

empty_rpc!(
    /// `FactoryResetResponse`, CPE to ACS (no arguments).
    FactoryResetResponse
);
