//! `bench`: see `bench --help` and `scripts/bench-vs-pytorch.sh`.

#[global_allocator]
static ALLOCATOR: train::Allocator = train::Allocator;

fn main() {
    train::keep_freed_memory();
    train::exit_on_error(train::on_pool(|| train::bench::run(std::env::args_os())));
}
