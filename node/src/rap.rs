//! The RAP file a node returns for a TAP upload: fatal returns for a rejected file, severe
//! returns for call events rejected by TD.57 validation or by the settlement ledger.

use std::collections::BTreeSet;
use std::path::Path;

use carrier_adapters::tap::validate::TapReport;
use settlement::error::ErrorCode;

use crate::error::NodeError;
use crate::ledger::now;

/// The RAP file (name, bytes) for the TAP file at `path`, or `None` when nothing is returned.
/// `rejected` holds (call event index, settlement code) of records the ledger refused.
pub fn return_file(
    path: &Path,
    report: &TapReport,
    rejected: &BTreeSet<(u32, ErrorCode)>,
) -> Result<Option<(String, Vec<u8>)>, NodeError> {
    let file = std::fs::File::open(path).map_err(|e| NodeError::io(path, e))?;
    let rejected: Vec<(u32, ErrorCode)> = rejected.iter().copied().collect();
    carrier_adapters::rap_return::return_for_tap(std::io::BufReader::new(file), report, &rejected, now())
        .map(|o| o.map(|(name, bytes)| (name.to_string(), bytes)))
        .map_err(|e| NodeError::Input(format!("building the RAP file: {e}")))
}
