//! `zk-fake`: a fake ZKTeco terminal (arrives with the fake device).

fn main() {}
