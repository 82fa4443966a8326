//! `experiments`: the theory lab's command line (see the crate docs, or `experiments list`).

#[global_allocator]
static ALLOCATOR: train::Allocator = train::Allocator;

fn main() {
    train::keep_freed_memory();
    train::exit_on_error(train::on_pool(|| experiments::cli::run(std::env::args_os())));
}
