//! `infer`: see `infer --help`.

fn main() {
    train::exit_on_error(infer::run(std::env::args_os()));
}
