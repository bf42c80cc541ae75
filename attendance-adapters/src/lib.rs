//! `attendance-adapters`: placeholder until its issue lands; see ARCHITECTURE.md.
