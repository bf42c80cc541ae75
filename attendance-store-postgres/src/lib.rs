//! `attendance-store-postgres`: placeholder until its issue lands; see ARCHITECTURE.md.
