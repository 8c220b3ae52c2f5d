//! Every command's help shows examples, one command a line, and each example is a
//! command line that parses.

use clap::{CommandFactory as _, Parser as _};

use super::Cli;

/// Every command under `cmd` (itself included), with its path of names (`aigis data
/// scan`); clap's generated `help` subcommands are left out.
fn commands(
    cmd: &mut clap::Command,
    path: &[String],
    out: &mut Vec<(Vec<String>, String, String)>,
) {
    let mut path = path.to_vec();
    path.push(cmd.get_name().to_owned());
    let short = cmd.render_help().to_string();
    let long = cmd.render_long_help().to_string();
    out.push((path.clone(), short, long));
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() != "help" {
            commands(sub, &path, out);
        }
    }
}

/// The lines of the `Examples:` block, as shown.
fn block(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect()
}

/// The examples of a block: lines ending in ` \` continue on the next (a long example is
/// broken so, rather than wrapped by clap).
fn examples(block: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut continued = false;
    for line in block {
        match out.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(line);
            }
            _ => out.push(line.clone()),
        }
        continued = line.ends_with(" \\");
        if let Some(last) = out.last_mut().filter(|_| continued) {
            last.truncate(last.len() - 2);
        }
    }
    out
}

/// Splits a shell command line into words (single and double quotes; no expansion).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    if in_word {
        out.push(word);
    }
    out
}

/// The aigis invocations of an example line: commands joined by `&&`, without leading
/// `VAR=value` assignments and output redirections.
fn invocations(line: &str) -> Vec<Vec<String>> {
    line.split("&&")
        .map(|part| {
            words(part)
                .into_iter()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                .take_while(|w| w != ">")
                .collect()
        })
        .collect()
}

#[test]
fn every_command_has_examples_one_a_line_that_parse() {
    let mut root = Cli::command();
    root.build();
    let mut all = Vec::new();
    commands(&mut root, &[], &mut all);
    assert!(all.len() > 40, "only {} commands found", all.len());
    // A line that reads like an aigis command line: `aigis <command>` (prose may start a
    // line with "aigis secures ...").
    let verbs: Vec<String> = root
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let starts_command = |line: &str| {
        let mut w = line
            .split_whitespace()
            .skip_while(|w| w.starts_with("AIGIS_") && w.contains('='));
        w.next() == Some("aigis")
            && w.next()
                .is_some_and(|v| verbs.iter().any(|c| c == v) || v.starts_with("--"))
    };
    for (path, short, long) in &all {
        let name = path.join(" ");
        for (kind, help) in [("-h", short), ("--help", long)] {
            assert_eq!(
                help.matches("Examples:").count(),
                1,
                "`{name} {kind}` has no Examples block (or more than one):\n{help}"
            );
            let shown = block(help);
            let block = examples(&shown);
            assert!(!block.is_empty(), "`{name} {kind}`: empty Examples block");
            // Indented by two, each line fits an 80-column terminal, where clap would
            // otherwise wrap it into two half-commands.
            for line in &shown {
                assert!(
                    line.chars().count() <= 76,
                    "`{name}`: `{line}` is too long to show whole in 80 columns; break it with ` \\`"
                );
            }
            // No example left in the prose, and none glued to another: every line that
            // starts a command is one whole example of the block.
            for line in help.lines().map(str::trim) {
                if starts_command(line) {
                    assert!(
                        shown.iter().any(|e| e == line),
                        "`{name} {kind}`: `{line}` is a command outside the Examples block"
                    );
                }
                assert!(
                    !line.starts_with("Example:") && !line.contains(" Example: aigis"),
                    "`{name} {kind}`: an example left in the text: `{line}`"
                );
            }
            for example in &block {
                let calls = invocations(example);
                for argv in &calls {
                    assert_eq!(
                        argv.first().map(String::as_str),
                        Some("aigis"),
                        "`{name}`: `{example}` is not an aigis command line"
                    );
                    // glued examples would show up as a second `aigis` among the words
                    assert!(
                        !argv.iter().skip(1).any(|w| w == "aigis"),
                        "`{name}`: `{example}` holds two commands"
                    );
                    if let Err(e) = Cli::try_parse_from(argv) {
                        panic!("`{name}`: the example `{example}` does not parse:\n{e}");
                    }
                }
                // The example is of this command (or one below it).
                let own = calls.iter().any(|argv| {
                    let args: Vec<&String> = argv.iter().filter(|w| !w.starts_with('-')).collect();
                    path.iter().zip(args).all(|(p, a)| p == a)
                });
                assert!(
                    own,
                    "`{name}`: `{example}` is an example of another command"
                );
            }
        }
    }
}
