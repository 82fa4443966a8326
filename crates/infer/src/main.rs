//! `infer`: see `infer --help`.

#[global_allocator]
static ALLOCATOR: train::Allocator = train::Allocator;

fn main() {
    train::keep_freed_memory();
    train::exit_on_error(train::on_pool(|| infer::run(std::env::args_os())));
}
