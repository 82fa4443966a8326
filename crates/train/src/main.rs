//! `train`: see `train --help`.

fn main() {
    train::exit_on_error(train::cli::run(std::env::args_os()));
}
