//! In-memory fakes of the ports (being written).
