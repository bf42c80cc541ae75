//! `attendance-server`: the runnable product. See the crate docs and `--help`.

fn main() -> anyhow::Result<()> {
    attendance_server::cli::main()
}
