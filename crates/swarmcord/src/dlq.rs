//! `worker dlq replay [QUEUE] [--limit N]`: puts the dead letters back in the queues they came
//! from after the fault that rejected them is fixed (`docs/ARCHITECTURE.md`, Operations).
//!
//! `QUEUE` is the dead-letter queue ([`DEAD_LETTER_QUEUE`] by default); `AMQP_URL` (or
//! `AMQP_URL_FILE`) says where RabbitMQ is, as for the worker. Messages that do not say
//! which queue they came from stay in the dead-letter queue. Exit codes: 0 done, 1 RabbitMQ
//! failed, 2 bad usage or configuration.

use std::process::ExitCode;

use swarmcord_ops::config::Env;
use swarmcord_ops::config::common::AmqpUrl;
use swarmcord_protocol::amqp::DEAD_LETTER_QUEUE;

const USAGE: &str = "usage: worker dlq replay [QUEUE] [--limit N]";

/// Runs `dlq …` with `args` (what follows `dlq` on the command line).
pub async fn main(args: &[String]) -> ExitCode {
    let (queue, limit) = match parse(args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            report(&mut std::io::stderr(), &format!("{problem}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let url = match Env::from_process()
        .load::<AmqpUrl>()
        .and_then(|url| url.required())
    {
        Ok(url) => url,
        Err(error) => {
            report(&mut std::io::stderr(), &error.to_string());
            return ExitCode::from(2);
        }
    };
    match replay(url.expose(), &queue, limit).await {
        Ok(done) => {
            report(
                &mut std::io::stdout(),
                &format!(
                    "replayed {} dead letters from {queue}; {} kept (no original queue, or it is gone)",
                    done.replayed, done.kept
                ),
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            report(
                &mut std::io::stderr(),
                &format!("replaying {queue} failed: {error}"),
            );
            ExitCode::from(1)
        }
    }
}

async fn replay(
    url: &str,
    queue: &str,
    limit: Option<u64>,
) -> Result<swarmcord_broker::Replayed, swarmcord_broker::BrokerError> {
    let connection = swarmcord_broker::connect(url, "worker-dlq-replay").await?;
    let channel = connection.create_channel().await.map_err(|source| {
        swarmcord_broker::BrokerError::Amqp {
            operation: "channel.open".to_owned(),
            source,
        }
    })?;
    let done = swarmcord_broker::replay_dead_letters(&channel, queue, limit).await;
    let _ = connection.close(200, "replayed".into()).await;
    done
}

/// Writes one line for the operator (a closed stream is not worth failing for).
fn report(to: &mut impl std::io::Write, line: &str) {
    let _ = writeln!(to, "{line}");
}

/// `replay [QUEUE] [--limit N]` → (queue, limit).
fn parse(args: &[String]) -> Result<(String, Option<u64>), String> {
    let mut args = args.iter().map(String::as_str);
    if args.next() != Some("replay") {
        return Err("unknown dlq command".to_owned());
    }
    let mut queue = None;
    let mut limit = None;
    while let Some(arg) = args.next() {
        match arg {
            "--limit" => {
                let n = args.next().and_then(|n| n.parse::<u64>().ok());
                limit = Some(n.ok_or("--limit needs a number")?);
            }
            name if queue.is_none() && !name.starts_with('-') => queue = Some(name.to_owned()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok((queue.unwrap_or_else(|| DEAD_LETTER_QUEUE.to_owned()), limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&args("replay")),
            Ok((DEAD_LETTER_QUEUE.to_owned(), None))
        );
        assert_eq!(
            parse(&args("replay q --limit 5")),
            Ok(("q".to_owned(), Some(5)))
        );
        assert!(parse(&args("replay --limit x")).is_err());
        assert!(parse(&args("replay a b")).is_err());
        assert!(parse(&args("purge")).is_err());
    }
}
