//! Writes a large synthetic policy to stdout: `gen_policy <shape> <lines>`, or
//! `gen_policy --list` for the shape names. Used by `benches/scale.sh`.

#[path = "../benches/gen/mod.rs"]
mod gen;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--list" => {
            for s in gen::Shape::ALL {
                println!("{}", s.name());
            }
            ExitCode::SUCCESS
        }
        [shape, lines] => {
            let (Some(shape), Ok(lines)) = (gen::Shape::from_name(shape), lines.parse::<usize>())
            else {
                eprintln!("usage: gen_policy <shape> <lines>  (see --list)");
                return ExitCode::from(2);
            };
            let text = gen::generate(shape, lines);
            if std::io::stdout().write_all(text.as_bytes()).is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: gen_policy <shape> <lines>  (see --list)");
            ExitCode::from(2)
        }
    }
}
