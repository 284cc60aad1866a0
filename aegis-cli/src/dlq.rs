//! `aegis dlq ls|show|replay|purge`: the dead letters, through `aegis::dead_letters`.

use std::time::SystemTime;

use aegis::dead_letters::{DeadLetter, DeadLetters, Filter};
use aegis::{Backend, Codec};
use serde_json::{Value, json};

use crate::output::{Table, age, or_dash, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List dead letters, oldest first
    Ls {
        /// Only those this service gave up on
        service: Option<String>,
        /// At most this many
        #[arg(long, value_name = "N", default_value = "100")]
        limit: usize,
        /// From this dead-letter sequence on
        #[arg(long, value_name = "SEQ")]
        from: Option<u64>,
        /// Print JSON (an array of dead letters)
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: why it failed, its headers and payload
    Show {
        /// Its sequence in `DEAD_LETTERS` (the first column of `aegis dlq ls`)
        sequence: u64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again to their original subjects (with a new message id), and
    /// remove each once the stream has stored it
    Replay(Selection),
    /// Remove dead letters without replaying them
    Purge(Selection),
}

/// Which dead letters: these sequences, or `--all` (of `--service`).
#[derive(Debug, clap::Args)]
pub(crate) struct Selection {
    /// Their sequences in `DEAD_LETTERS`
    #[arg(
        value_name = "SEQ",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    sequences: Vec<u64>,
    /// Every dead letter (of --service, if given)
    #[arg(long)]
    all: bool,
    /// With --all: only those this service gave up on
    #[arg(long, value_name = "SERVICE", requires = "all")]
    service: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(backend: &Backend, command: Command) -> anyhow::Result<()> {
    let letters = DeadLetters::new(backend)?;
    match command {
        Command::Ls {
            service,
            limit,
            from,
            json,
        } => {
            let mut filter = Filter::new().limit(limit);
            if let Some(service) = service {
                filter = filter.service(service);
            }
            if let Some(from) = from {
                filter = filter.from_sequence(from);
            }
            list(&letters.list(&filter).await?, json)
        }
        Command::Show { sequence, json } => {
            let Some(letter) = letters.get(sequence).await? else {
                anyhow::bail!("no dead letter {sequence}");
            };
            show(&letter, json)
        }
        Command::Replay(selection) => replay(&letters, selection).await,
        Command::Purge(selection) => purge(&letters, selection).await,
    }
}

fn list(letters: &[DeadLetter], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&letters);
    }
    if letters.is_empty() {
        eprintln!("no dead letters");
        return Ok(());
    }
    let now = SystemTime::now();
    let mut table = Table::new(&[
        "SEQ",
        "SERVICE",
        "SUBJECT",
        "CODE",
        "DELIVERIES",
        "AGE",
        "REASON",
    ]);
    for letter in letters {
        table.row(vec![
            letter.sequence().to_string(),
            letter.service().to_owned(),
            letter.subject().to_owned(),
            or_dash(letter.code()),
            or_dash(letter.deliveries()),
            age(now.duration_since(letter.stored()).unwrap_or_default()),
            or_dash(letter.reason()),
        ]);
    }
    table.print();
    Ok(())
}

/// The payload decoded (an AegisSDK envelope in MessagePack or JSON), if it decodes.
fn decoded(letter: &DeadLetter) -> Option<Value> {
    let payload = letter.payload();
    Codec::detect(payload).decode(payload).ok()
}

fn show(letter: &DeadLetter, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(letter)?;
        if let (Some(map), Some(decoded)) = (value.as_object_mut(), decoded(letter)) {
            map.insert("decoded".to_owned(), decoded);
        }
        return print_json(&value);
    }
    println!("dead letter {}", letter.sequence());
    println!("  service:     {}", letter.service());
    println!("  subject:     {}", letter.subject());
    println!(
        "  error:       {} {}",
        or_dash(letter.code()),
        or_dash(letter.reason())
    );
    println!(
        "  from:        {} #{} (consumer {}, {} deliveries)",
        or_dash(letter.stream()),
        or_dash(letter.stream_sequence()),
        or_dash(letter.consumer()),
        or_dash(letter.deliveries())
    );
    println!("  message id:  {}", or_dash(letter.message_id()));
    for (name, value) in letter.headers().iter() {
        println!("  header:      {name}: {value}");
    }
    match decoded(letter) {
        Some(value) => println!("{}", serde_json::to_string_pretty(&value)?),
        None => println!("({} bytes, not an envelope)", letter.payload().len()),
    }
    Ok(())
}

/// The sequences a selection names: as given, or every matching dead letter now.
async fn sequences(letters: &DeadLetters, selection: &Selection) -> anyhow::Result<Vec<u64>> {
    if !selection.all {
        return Ok(selection.sequences.clone());
    }
    let mut filter = Filter::new().limit(usize::MAX);
    if let Some(service) = &selection.service {
        filter = filter.service(service.clone());
    }
    Ok(letters
        .list(&filter)
        .await?
        .iter()
        .map(DeadLetter::sequence)
        .collect())
}

async fn replay(letters: &DeadLetters, selection: Selection) -> anyhow::Result<()> {
    let mut replayed = Vec::new();
    for sequence in sequences(letters, &selection).await? {
        let outcome = letters
            .replay(sequence)
            .await
            .map_err(|error| anyhow::anyhow!("dead letter {sequence}: {error}"))?;
        if !selection.json {
            println!(
                "replayed {sequence} to {} ({} #{}{})",
                outcome.subject,
                outcome.stream,
                outcome.sequence,
                if outcome.duplicate {
                    ", already stored"
                } else {
                    ""
                }
            );
        }
        replayed.push(json!({ "dead_letter": sequence, "replayed": outcome }));
    }
    if selection.json {
        print_json(&replayed)?;
    } else if replayed.is_empty() {
        eprintln!("no dead letters to replay");
    }
    Ok(())
}

async fn purge(letters: &DeadLetters, selection: Selection) -> anyhow::Result<()> {
    let purged = if selection.all {
        letters.purge_all(selection.service.as_deref()).await?
    } else {
        let mut purged = 0;
        for &sequence in &selection.sequences {
            if !letters.purge(sequence).await? {
                anyhow::bail!("no dead letter {sequence} (purged {purged} before it)");
            }
            purged += 1;
        }
        purged
    };
    if selection.json {
        print_json(&json!({ "purged": purged }))
    } else {
        println!("purged {purged}");
        Ok(())
    }
}
