//! The scrape and alerts endpoint (stub: being written).
