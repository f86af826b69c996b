//! Fast tests of every grant and endpoint over the in-memory fakes (being written).
