//! `raccordo bench ingest`: gRPC commands → acknowledged events.
//!
//! raccordo: the demo scenario's commands (those it expects to be applied), sent by N clients,
//! each on its own HTTP/2 connection and calling with the token of the organisation that acts,
//! one command at a time; a pathway's steps in order, the scenario's moments on a virtual clock
//! that only moves forward. The gateway alone serves them (the router, projectors and reconciler
//! read the log after it; the last row runs them all, as `raccordo up` does).
//! Baseline: the very messages raccordo appended (subject, headers, payload; the concurrency
//! header left out), published again by N publishers, each on its own NATS connection, one
//! acknowledged publish at a time, into a stream with the log's settings on the same server.
//! Then both again, open loop, at half of raccordo's peak rate: p99 there is the latency target.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use raccordo_domain::clock::{Clock as _, VirtualClock};
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::registry::Registry;
use raccordo_eventlog::raw::{Raw, RawMessage};
use raccordo_eventlog::{EventLog, LogConfig};
use raccordo_gateway::{GatewayConfig, Projections, REPLAYED_HEADER, Replays, Tokens};
use raccordo_projections::ProjectionStore;
use tokio::net::TcpListener;

use super::{Bench, FIRST_DAY, Figures, Latencies, Server, say};
use crate::app::{Application, Settings};
use crate::demo::driver::{Desks, wire};
use crate::demo::scenario::{self, Calendar, Command, Expect, Moment, Step};
use crate::nats::Durability;
use crate::state::{create_tokens, demo_organisations, random_hex};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commands per measurement.
    #[arg(long, default_value_t = 6000)]
    pub commands: usize,
    /// The numbers of concurrent clients to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub clients: Vec<usize>,
}

pub(crate) async fn run(bench: &Bench, mut args: Args) -> anyhow::Result<Figures> {
    if bench.tiny {
        args.commands = args.commands.min(120);
        args.clients = vec![2];
    }
    anyhow::ensure!(
        args.clients.iter().all(|&n| n > 0),
        "--clients: every number of clients must be at least 1"
    );
    let mut figures = Figures::new("ingest", bench.runs);
    let widest = *args.clients.iter().max().unwrap_or(&1);
    for run in 1..=bench.runs {
        for durability in [Durability::Always, Durability::ServerDefault] {
            let tag = match durability {
                Durability::Always => "always",
                Durability::ServerDefault => "lazy",
            };
            say(format!(
                "run {run}, {}: a new nats-server",
                durability.label()
            ));
            let name = format!("run{run}-{tag}");
            let server = bench.server(&name, durability).await?;
            let dir = bench.dir.join(&name);
            let mut round = 0;
            for &clients in &args.clients {
                round += 1;
                let (measured, messages) =
                    gateway_round(&server, &dir, round, args.commands, Pace::Closed(clients))
                        .await?;
                let label = format!("[{tag}] {clients:>2} clients");
                let rate = measured.report(&mut figures, &format!("{label} raccordo"));
                let (raw_rate, mut raw_latencies) =
                    raw_round(&server, round, &messages, Pace::Closed(clients)).await?;
                figures.add(format!("{label} raw publishes/s"), "/s", raw_rate);
                figures.latencies(&format!("{label} raw"), &mut raw_latencies);
                figures.add(format!("{label} raw publishes"), "", messages.len() as f64);
                figures.add(format!("{label} ratio raccordo/raw"), "", rate / raw_rate);
                say(format!(
                    "{clients} clients: raccordo {rate:.0}/s, raw {raw_rate:.0}/s"
                ));
            }
            if durability == Durability::Always {
                let peak = figures
                    .median(&format!("[{tag}] {widest:>2} clients raccordo commands/s"))
                    .unwrap_or(100.0)
                    .max(10.0);
                let half = peak / 2.0;
                round += 1;
                let (measured, messages) =
                    gateway_round(&server, &dir, round, args.commands / 2, Pace::Open(half))
                        .await?;
                let label = format!("[{tag}] open loop at half raccordo's peak");
                figures.add(format!("{label}: offered"), "/s", half);
                measured.report(&mut figures, &format!("{label}: raccordo"));
                let (raw_rate, mut raw_latencies) =
                    raw_round(&server, round, &messages, Pace::Open(half)).await?;
                figures.add(format!("{label}: raw publishes/s"), "/s", raw_rate);
                figures.latencies(&format!("{label}: raw"), &mut raw_latencies);
                figures.add(format!("{label}: raw publishes"), "", messages.len() as f64);
                round += 1;
                let measured = whole_round(&server, &dir, round, args.commands, widest).await?;
                let label = format!("[{tag}] {widest:>2} clients, all of raccordo up running:");
                measured.report(&mut figures, &label);
            }
            server.stop().await;
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    figures.note(format!(
        "{} commands per closed-loop measurement, each client one command at a time on its own \
         connection; the demo scenario's commands",
        args.commands
    ));
    figures.note(
        "raw: the same messages (subject, headers, payload) published again, acknowledged, into \
         a stream with the log's settings, one NATS connection per publisher",
    );
    figures.note(
        "[always]: sync_interval: always, what raccordo ships; [lazy]: the server's default \
         (flush every 2 min), which can lose acknowledged writes",
    );
    Ok(figures)
}

/// How commands are sent.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// N clients, each sending its next command when the last is answered.
    Closed(usize),
    /// Commands sent at this rate per second whatever the answers (latency from the send).
    Open(f64),
}

/// The scenario's commands, by pathway, in order.
struct Work {
    steps: Vec<Vec<Step>>,
    calendar: Calendar,
}

impl Work {
    /// At least `commands` commands the scenario expects to be applied.
    fn new(commands: usize, seed: u64) -> Self {
        let calendar = Calendar {
            start: FIRST_DAY,
            days: 30,
        };
        let mut pathways = commands / 4 + 10;
        loop {
            let scenario = scenario::generate(seed, pathways, calendar);
            let steps: Vec<Vec<Step>> = scenario
                .pathways
                .into_iter()
                .map(|p| {
                    p.steps
                        .into_iter()
                        .filter(|s| {
                            s.expect == Expect::Appended && s.command != Command::ReadPathway
                        })
                        .collect()
                })
                .collect();
            if steps.iter().map(Vec::len).sum::<usize>() >= commands {
                return Self { steps, calendar };
            }
            pathways *= 2;
        }
    }
}

/// Who is next: the earliest next step of every pathway not waiting for an answer.
struct Dispatch {
    queue: BinaryHeap<Reverse<(Moment, usize, usize)>>,
    ids: Vec<Option<String>>,
    in_flight: usize,
    left: usize,
    clock: VirtualClock,
    refused: Vec<String>,
}

impl Dispatch {
    fn new(work: &Work, commands: usize, clock: VirtualClock) -> Self {
        Self {
            queue: work
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty())
                .map(|(i, s)| Reverse((s[0].at, i, 0)))
                .collect(),
            ids: vec![None; work.steps.len()],
            in_flight: 0,
            left: commands,
            clock,
            refused: Vec::new(),
        }
    }

    /// The next step to send, the clock moved to its moment if that is later.
    fn next(&mut self, calendar: Calendar) -> Next {
        if self.left == 0 {
            return Next::Done;
        }
        match self.queue.pop() {
            Some(Reverse((at, pathway, step))) => {
                let instant = calendar.instant(at);
                // The clock only moves forward: a step sent late still runs on the later time.
                if instant > self.clock.now() {
                    self.clock.set(instant);
                }
                self.in_flight += 1;
                self.left -= 1;
                Next::Send(pathway, step, self.ids[pathway].clone())
            }
            None if self.in_flight == 0 => Next::Done,
            None => Next::Wait,
        }
    }

    fn done(&mut self, work: &Work, pathway: usize, step: usize, answer: Result<String, String>) {
        self.in_flight -= 1;
        match answer {
            Ok(id) => self.ids[pathway] = Some(id),
            Err(why) => self.refused.push(why),
        }
        if let Some(next) = work.steps[pathway].get(step + 1) {
            self.queue.push(Reverse((next.at, pathway, step + 1)));
        }
    }
}

enum Next {
    Send(usize, usize, Option<String>),
    Wait,
    Done,
}

/// A clock at the scenario's first moment.
fn first_moment() -> VirtualClock {
    VirtualClock::new(
        Calendar {
            start: FIRST_DAY,
            days: 1,
        }
        .instant(Moment::FIRST),
    )
}

/// A gateway serving on a server's log, and clients for it.
struct Gateway {
    addr: SocketAddr,
    tokens: Vec<(String, String)>,
    clock: VirtualClock,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn gateway(server: &Server, dir: &std::path::Path) -> anyhow::Result<Gateway> {
    let clock = first_moment();
    let (path, tokens) = tokens_file(dir)?;
    let registry = Arc::new(Registry::embedded().clone());
    let config = GatewayConfig {
        log: server.log.clone(),
        registry,
        clock: Arc::new(clock.clone()),
        subject_key: subject_key()?,
        tokens: Tokens::parse(
            &path.display().to_string(),
            &std::fs::read_to_string(&path)?,
        )?,
        projections: Projections::new(Vec::<Arc<dyn ProjectionStore>>::new()),
        replays: Replays::new(
            server.log.clone(),
            crate::app::rules(None)?,
            Arc::new(clock.clone()),
        )
        .await?,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        raccordo_gateway::serve(config, listener, async {
            let _ = stopped.await;
        })
        .await
        .context("the gateway stopped")
    });
    Ok(Gateway {
        addr,
        tokens,
        clock,
        stop,
        serving,
    })
}

fn tokens_file(
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, Vec<(String, String)>)> {
    let path = dir.join(format!("tokens-{}.csv", random_hex(4)?));
    let tokens = create_tokens(&path, demo_organisations(Registry::embedded(), FIRST_DAY))?
        .into_iter()
        .map(|(org, token)| (org.to_string(), token))
        .collect();
    Ok((path, tokens))
}

fn subject_key() -> anyhow::Result<SubjectKey> {
    Ok(SubjectKey::from_hex(&random_hex(32)?)?)
}

/// One measurement of raccordo's gateway: returns commands/s, latencies and the messages the
/// commands appended (for the baseline).
async fn gateway_round(
    server: &Server,
    dir: &std::path::Path,
    round: u64,
    commands: usize,
    pace: Pace,
) -> anyhow::Result<(Measured, Vec<RawMessage>)> {
    let gateway = gateway(server, dir).await?;
    let before = server.log.last_sequence().await?;
    let measured = drive(
        &gateway.addr,
        &gateway.tokens,
        &gateway.clock,
        round,
        commands,
        pace,
    )
    .await?;
    let _ = gateway.stop.send(());
    gateway.serving.await??;
    let after = server.log.last_sequence().await?;
    let messages = server
        .log
        .raw()
        .messages(&server.log.config().stream, before + 1, after)
        .await?;
    Ok((measured, messages))
}

/// The same with all of `raccordo up` running on the server: router, projectors, reconciler.
async fn whole_round(
    server: &Server,
    dir: &std::path::Path,
    round: u64,
    commands: usize,
    clients: usize,
) -> anyhow::Result<Measured> {
    let clock = first_moment();
    let state = dir.join("up");
    std::fs::create_dir_all(&state)?;
    let (path, tokens) = tokens_file(&state)?;
    std::fs::rename(&path, state.join("tokens.csv"))?;
    let mut settings = Settings::new(&state, Arc::new(clock.clone()));
    settings.nats_url = Some(server.url().to_owned());
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.console = None;
    let app = Application::build(settings).await?;
    let addr = app.grpc_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let measured = drive(
        &addr,
        &tokens,
        &clock,
        round,
        commands,
        Pace::Closed(clients),
    )
    .await;
    let _ = stop.send(());
    serving.await??;
    measured
}

/// Sends the work to a gateway and measures.
async fn drive(
    addr: &SocketAddr,
    tokens: &[(String, String)],
    clock: &VirtualClock,
    round: u64,
    commands: usize,
    pace: Pace,
) -> anyhow::Result<Measured> {
    let work = Arc::new(Work::new(commands, 2167 + round));
    let commands = commands.min(work.steps.iter().map(Vec::len).sum());
    let connections = match pace {
        Pace::Closed(n) => n,
        Pace::Open(_) => 16,
    };
    let mut desks = Vec::with_capacity(connections);
    for _ in 0..connections {
        desks.push(Arc::new(Desks::connect(*addr, tokens).await?));
    }
    let dispatch = Arc::new(Mutex::new(Dispatch::new(&work, commands, clock.clone())));
    let run = Arc::new(format!("r{round}-{}", random_hex(3)?));
    let started = Instant::now();
    let latencies = match pace {
        Pace::Closed(_) => {
            let workers: Vec<_> = desks
                .into_iter()
                .map(|desks| {
                    let (work, dispatch, run) = (work.clone(), dispatch.clone(), run.clone());
                    tokio::spawn(async move {
                        let mut latencies = Latencies::default();
                        loop {
                            let next = lock(&dispatch).next(work.calendar);
                            match next {
                                Next::Done => break,
                                Next::Wait => {
                                    tokio::time::sleep(Duration::from_micros(200)).await;
                                }
                                Next::Send(p, s, id) => {
                                    let (answer, latency) =
                                        send(&work, &desks, p, s, id.as_deref(), &run).await;
                                    latencies.push(latency);
                                    lock(&dispatch).done(&work, p, s, answer);
                                }
                            }
                        }
                        latencies
                    })
                })
                .collect();
            let mut all = Latencies::default();
            for worker in workers {
                all.extend(worker.await?);
            }
            all
        }
        Pace::Open(rate) => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut k = 0;
            let begun = Instant::now();
            let mut sent = 0usize;
            'ticks: loop {
                tick.tick().await;
                let mut owed = rate * begun.elapsed().as_secs_f64() - sent as f64;
                while owed >= 1.0 {
                    let next = lock(&dispatch).next(work.calendar);
                    match next {
                        Next::Done => break 'ticks,
                        Next::Wait => break,
                        Next::Send(p, s, id) => {
                            let (work, dispatch, run) =
                                (work.clone(), dispatch.clone(), run.clone());
                            let desks = desks[k % desks.len()].clone();
                            k += 1;
                            sent += 1;
                            owed -= 1.0;
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                let (answer, latency) =
                                    send(&work, &desks, p, s, id.as_deref(), &run).await;
                                lock(&dispatch).done(&work, p, s, answer);
                                let _ = tx.send(latency);
                            });
                        }
                    }
                }
            }
            drop(tx);
            let mut all = Latencies::default();
            while let Some(latency) = rx.recv().await {
                all.push(latency);
            }
            all
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let dispatch = lock(&dispatch);
    if !dispatch.refused.is_empty() {
        say(format!(
            "{} of {} commands were refused, first: {}",
            dispatch.refused.len(),
            latencies.len(),
            dispatch.refused[0]
        ));
    }
    let applied = latencies.len() - dispatch.refused.len();
    Ok(Measured {
        rate: applied as f64 / seconds,
        sent: latencies.len(),
        refused: dispatch.refused.len(),
        latencies,
    })
}

/// What one measurement of raccordo came to.
struct Measured {
    /// Commands applied per second.
    rate: f64,
    latencies: Latencies,
    sent: usize,
    refused: usize,
}

impl Measured {
    fn report(mut self, figures: &mut Figures, label: &str) -> f64 {
        figures.add(format!("{label} commands/s"), "/s", self.rate);
        figures.latencies(label, &mut self.latencies);
        figures.add(format!("{label} commands sent"), "", self.sent as f64);
        figures.add(format!("{label} commands refused"), "", self.refused as f64);
        self.rate
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends one step; the pathway id on success, why not otherwise.
async fn send(
    work: &Work,
    desks: &Desks,
    pathway: usize,
    step: usize,
    id: Option<&str>,
    run: &str,
) -> (Result<String, String>, Duration) {
    let step = &work.steps[pathway][step];
    let started = Instant::now();
    let answer = match (wire(step, id, run), desks.of(&step.by)) {
        (Some(request), Ok(desk)) => match request.send(desk).await {
            Ok(response)
                if response
                    .metadata()
                    .get(REPLAYED_HEADER)
                    .is_none_or(|v| v != "true") =>
            {
                Ok(response.into_inner().pathway_id)
            }
            Ok(_) => Err(format!("{}: answered as a replay", step.command.rpc())),
            Err(status) => Err(format!(
                "{} by {}: {:?} {}",
                step.command.rpc(),
                step.by,
                status.code(),
                status.message()
            )),
        },
        (None, _) => Err("a read".into()),
        (_, Err(e)) => Err(e.to_string()),
    };
    (answer, started.elapsed())
}

/// One measurement of the raw baseline: the messages published again into a stream of their own.
async fn raw_round(
    server: &Server,
    round: u64,
    messages: &[RawMessage],
    pace: Pace,
) -> anyhow::Result<(f64, Latencies)> {
    let stream = format!("BENCH_RAW_{round}");
    let prefix = format!("bench.raw{round}");
    let messages: Arc<Vec<RawMessage>> = Arc::new(
        messages
            .iter()
            .map(|m| {
                let mut headers = async_nats::HeaderMap::new();
                for (name, values) in m.headers.iter() {
                    let name: &str = name.as_ref();
                    if name.starts_with("Nats-Expected") {
                        continue;
                    }
                    for value in values {
                        headers.append(name, value.as_str());
                    }
                }
                RawMessage {
                    subject: m.subject.replacen("raccordo.pathway", &prefix, 1),
                    headers,
                    payload: m.payload.clone(),
                }
            })
            .collect(),
    );
    server
        .log
        .raw()
        .stream_like_log(&stream, &format!("{prefix}.>"))
        .await?;
    let publishers = match pace {
        Pace::Closed(n) => n,
        Pace::Open(_) => 16,
    };
    let mut raws: Vec<Raw> = Vec::with_capacity(publishers);
    for _ in 0..publishers {
        raws.push(
            EventLog::connect(server.url(), LogConfig::default())
                .await?
                .raw(),
        );
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let latencies = match pace {
        Pace::Closed(_) => {
            let tasks: Vec<_> = raws
                .into_iter()
                .map(|raw| {
                    let (messages, next) = (messages.clone(), next.clone());
                    tokio::spawn(async move {
                        let mut latencies = Latencies::default();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(message) = messages.get(i) else {
                                break;
                            };
                            let t = Instant::now();
                            raw.publish(message.clone()).await?.await?;
                            latencies.push(t.elapsed());
                        }
                        anyhow::Ok(latencies)
                    })
                })
                .collect();
            let mut all = Latencies::default();
            for task in tasks {
                all.extend(task.await??);
            }
            all
        }
        Pace::Open(rate) => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let begun = Instant::now();
            let mut sent = 0usize;
            while sent < messages.len() {
                tick.tick().await;
                let due = ((rate * begun.elapsed().as_secs_f64()) as usize).min(messages.len());
                while sent < due {
                    let raw = raws[sent % raws.len()].clone();
                    let message = messages[sent].clone();
                    let tx = tx.clone();
                    sent += 1;
                    tokio::spawn(async move {
                        let t = Instant::now();
                        let result = async { raw.publish(message).await?.await }.await;
                        let _ = tx.send(result.map(|_| t.elapsed()));
                    });
                }
            }
            drop(tx);
            let mut all = Latencies::default();
            while let Some(latency) = rx.recv().await {
                all.push(latency?);
            }
            all
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok((latencies.len() as f64 / seconds, latencies))
}
