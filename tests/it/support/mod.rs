//! Helpers the test modules share: running the binary (`binary`), the simulator in its own
//! process (`process`) or in this one with a scratch folder (`tenant`), reading reports
//! (`report`), Graph calls to the simulator (`graph`), a tampering proxy (`proxy`), the executor
//! against a scripted server (`exec`), credentials (`entra`) and OATH tokens (`oath`).

pub mod binary;
pub mod entra;
pub mod exec;
pub mod graph;
pub mod oath;
pub mod process;
pub mod proxy;
pub mod report;
pub mod tenant;
