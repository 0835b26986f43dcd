//! Contract tests of the backend traits: each suite is written once and runs against every
//! backend (the embedded one in this process, and the real engine), so both keep the same
//! guarantees.

mod db;
mod log;
mod store;
