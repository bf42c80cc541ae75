//! `attendance-store-sqlite`: placeholder until its issue lands; see ARCHITECTURE.md.
