//! # carrier-adapters
//! WIP
#[macro_use]
mod macros;
pub mod ber;
pub mod error;
pub mod limits;
pub mod tap;
pub use error::Error;
pub mod bcd;
pub mod csv;
pub mod diagnostic;
pub mod nrtrde;
pub mod rap;
pub mod tmf635;
pub use settlement::types::Scale;
