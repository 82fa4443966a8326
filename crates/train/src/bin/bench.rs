//! `bench`: see `bench --help` and `scripts/bench-vs-pytorch.sh`.

fn main() {
    train::exit_on_error(train::bench::run(std::env::args_os()));
}
