//! Real-process tests (being written).
