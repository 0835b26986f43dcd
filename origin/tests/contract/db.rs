//! Contract tests of the EventDB and OrderDB traits.
