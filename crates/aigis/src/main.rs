#![forbid(unsafe_code)]

fn main() {
    std::process::exit(aigis_cli::main());
}
