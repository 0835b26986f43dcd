//! The TicketWorker's handling of one ticket message, against real PostgreSQL and without
//! Kafka: the ticket email and its QR code, one email per ticket under redelivery and
//! concurrency, and SMTP failures. Start PostgreSQL with `scripts/services.sh start`.

mod ticket_support;

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use tokio_util::sync::CancellationToken;

use onsale_origin::mail;
use onsale_origin::pipeline::TicketMessage;
use onsale_origin::workers::ticket::{self, HandleError, Handled, TicketWorker};
use onsale_shared::SeatIndex;
use onsale_shared::ticket::verify_ticket;

use ticket_support::{
    EVENT_NAME, FAN_EMAIL, FakeSmtp, TestDatabase, all_files, eml_files, insert_order, qr_text_from_email, signing_key,
    temporary_mail_dir, ticket_config, ticket_state,
};

fn file_worker(db: &TestDatabase, dir: &std::path::Path) -> TicketWorker {
    TicketWorker::from_config(&ticket_config(dir, None), db.database.clone()).expect("file worker")
}

fn smtp_worker(db: &TestDatabase, smtp: &FakeSmtp) -> TicketWorker {
    TicketWorker::from_config(&ticket_config(&temporary_mail_dir(), Some(smtp.url())), db.database.clone())
        .expect("SMTP worker")
}

#[tokio::test]
async fn qr_code_verifies_and_matches_ticket() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[4, 9]).await;
    let dir = temporary_mail_dir();
    let worker = file_worker(&db, &dir);
    assert_eq!(worker.verifying_key(), signing_key().verifying_key());

    for message in &fixture.tickets {
        assert_eq!(worker.handle(message).await.unwrap(), Handled::Sent);
    }
    let expected_files: Vec<String> = {
        let mut names: Vec<String> = fixture.tickets.iter().map(|t| mail::eml_file_name(t.ticket_id)).collect();
        names.sort();
        names
    };
    assert_eq!(eml_files(&dir), expected_files);

    for message in &fixture.tickets {
        let raw = std::fs::read(dir.join(mail::eml_file_name(message.ticket_id))).unwrap();
        let secret = qr_text_from_email(&raw);
        let claims =
            verify_ticket(&signing_key().verifying_key(), &secret).expect("QR secret verifies with the public key");
        assert_eq!(claims.ticket, message.ticket_id);
        assert_eq!(claims.event, fixture.event);
        assert_eq!(claims.seat, message.seat);
        assert_eq!(claims.issued_at.timestamp(), fixture.ordered_at.timestamp());
        assert_eq!(claims.issued_at.timestamp_subsec_nanos(), 0);

        let (stored, _, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
        assert_eq!(stored.as_deref(), Some(secret.as_str()), "the QR code shows the stored secret");
        assert!(emailed_at.is_some());

        let parsed = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.message_id(), Some(format!("ticket-{}@onsale.invalid", message.ticket_id).as_str()));
        let to = parsed.to().and_then(|to| to.first()).and_then(|addr| addr.address()).unwrap();
        assert_eq!(to, FAN_EMAIL);
        assert_eq!(parsed.subject(), Some(format!("Your ticket: {EVENT_NAME}").as_str()));

        let text = parsed.body_text(0).unwrap();
        assert!(text.contains(&secret), "the text part contains the secret to type in");
        assert!(text.contains("Section: Block A"));
        assert!(text.contains("Row: 3"));
        assert!(text.contains(&format!("Seat: {}", message.seat.get() + 1)));
        assert!(text.contains("Saturday 18 July 2026"));
        assert!(text.contains("19:30 UTC"));
        assert!(text.contains("Lisbon"));

        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("Summer &lt;Night&gt; &amp; Friends"));
        assert!(html.contains(&secret));
        let image = parsed.attachments().find(|part| part.content_id().is_some()).expect("inline image");
        let content_id = image.content_id().unwrap().trim_matches(|c| c == '<' || c == '>');
        assert!(html.contains(&format!("src=\"cid:{content_id}\"")), "the HTML shows the inline QR image");
        let width = image::load_from_memory(image.contents()).unwrap().width();
        assert!(html.contains(&format!("width=\"{width}\"")), "the HTML gives the image its real width");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn resigned_secret_is_identical() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[2]).await;
    let message = &fixture.tickets[0];
    let dir = temporary_mail_dir();
    let worker = file_worker(&db, &dir);
    worker.handle(message).await.unwrap();
    let (first, _, _) = ticket_state(&db.pool, message.ticket_id).await;

    sqlx::query("UPDATE tickets SET secret = NULL, email_claimed_at = NULL, emailed_at = NULL WHERE id = $1")
        .bind(message.ticket_id.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();
    std::fs::remove_file(dir.join(mail::eml_file_name(message.ticket_id))).unwrap();
    let other = file_worker(&db, &dir);
    assert_eq!(other.handle(message).await.unwrap(), Handled::Sent);
    let (second, _, _) = ticket_state(&db.pool, message.ticket_id).await;
    assert!(first.is_some());
    assert_eq!(first, second, "signing is deterministic, so a redelivery stores the same secret");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn same_message_twice_sends_once() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[0, 1]).await;
    let smtp = FakeSmtp::start().await;
    let worker = smtp_worker(&db, &smtp);

    for message in &fixture.tickets {
        assert_eq!(worker.handle(message).await.unwrap(), Handled::Sent);
        let (_, _, first_emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
        assert!(first_emailed_at.is_some());
        assert_eq!(worker.handle(message).await.unwrap(), Handled::AlreadySent);
        let (_, _, second_emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
        assert_eq!(first_emailed_at, second_emailed_at, "emailed_at is set once");
    }
    assert_eq!(smtp.received().len(), fixture.tickets.len());

    // The mail directory: the second handling writes no file and changes none.
    let dir = temporary_mail_dir();
    let file_db = TestDatabase::create().await;
    let file_fixture = insert_order(&file_db.pool, &[5]).await;
    let message = &file_fixture.tickets[0];
    let file_worker = file_worker(&file_db, &dir);
    assert_eq!(file_worker.handle(message).await.unwrap(), Handled::Sent);
    let path = dir.join(mail::eml_file_name(message.ticket_id));
    let written = std::fs::read(&path).unwrap();
    assert_eq!(file_worker.handle(message).await.unwrap(), Handled::AlreadySent);
    assert_eq!(eml_files(&dir).len(), 1);
    assert_eq!(std::fs::read(&path).unwrap(), written);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn concurrent_handlers_send_once() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[0, 1, 2, 3]).await;
    let smtp = FakeSmtp::start().await;
    // A slow send keeps the first claim open while the second handler tries to claim.
    smtp.delay_accept(Duration::from_millis(300));
    let first = smtp_worker(&db, &smtp);
    let second = smtp_worker(&db, &smtp);

    for message in &fixture.tickets {
        let (a, b) = tokio::join!(first.handle(message), second.handle(message));
        let outcomes = [a.unwrap(), b.unwrap()];
        let sent = outcomes.iter().filter(|outcome| **outcome == Handled::Sent).count();
        assert_eq!(sent, 1, "exactly one handler sends, got {outcomes:?}");
    }
    assert_eq!(smtp.received().len(), fixture.tickets.len());

    // Both workers process every message to the end, at the same time.
    let shutdown = CancellationToken::new();
    for message in &fixture.tickets {
        let (first_done, second_done) =
            tokio::join!(first.process(message, &shutdown), second.process(message, &shutdown));
        assert!(first_done);
        assert!(second_done);
    }
    assert_eq!(smtp.received().len(), fixture.tickets.len(), "no second email after processing again");

    let mut message_ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|raw| MessageParser::default().parse(raw).unwrap().message_id().unwrap().to_owned())
        .collect();
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), fixture.tickets.len());
    for message in &fixture.tickets {
        let (_, _, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
        assert!(emailed_at.is_some());
    }
}

#[tokio::test]
async fn concurrent_file_writers_leave_one_file() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[0, 1, 2, 3, 4, 5, 6, 7]).await;
    let dir = temporary_mail_dir();
    let workers: Vec<TicketWorker> = (0..4).map(|_| file_worker(&db, &dir)).collect();
    let shutdown = CancellationToken::new();

    let mut tasks = Vec::new();
    for worker in &workers {
        for message in &fixture.tickets {
            let worker = worker.clone();
            let message = message.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move { worker.process(&message, &shutdown).await }));
        }
    }
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(eml_files(&dir).len(), fixture.tickets.len());
    assert_eq!(all_files(&dir).len(), fixture.tickets.len(), "no temporary files remain");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn concurrent_eml_writes_leave_one_file() {
    let dir = temporary_mail_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let ticket = onsale_shared::TicketId::random();
    let writers: Vec<_> = (0..16u8)
        .map(|i| {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || mail::write_eml(&dir, ticket, &[i; 4096]).unwrap())
        })
        .collect();
    let mut written = 0;
    for writer in writers {
        if writer.await.unwrap() {
            written += 1;
        }
    }
    assert_eq!(written, 1, "exactly one writer creates the file");
    assert_eq!(all_files(&dir), vec![mail::eml_file_name(ticket)], "one complete file and no temporary files");
    let contents = std::fs::read(dir.join(mail::eml_file_name(ticket))).unwrap();
    assert_eq!(contents.len(), 4096);
    assert!(contents.iter().all(|byte| *byte == contents[0]), "the file comes from one writer");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn smtp_failure_releases_claim() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[3]).await;
    let message = &fixture.tickets[0];
    let smtp = FakeSmtp::start().await;
    let worker = smtp_worker(&db, &smtp);

    smtp.fail_with(Some("451 4.3.0 Try again later"));
    let err = worker.handle(message).await.unwrap_err();
    assert!(matches!(err, HandleError::Send(_)), "got {err:?}");
    assert!(!err.is_permanent());
    assert!(!err.to_string().contains(FAN_EMAIL));
    assert_eq!(smtp.rejected(), 1);
    assert!(smtp.received().is_empty());
    let (secret, claimed_at, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
    assert!(secret.is_some(), "the secret is stored before the send");
    assert_eq!(claimed_at, None, "a failed send releases its claim");
    assert_eq!(emailed_at, None);

    smtp.fail_with(None);
    assert_eq!(worker.handle(message).await.unwrap(), Handled::Sent);
    assert_eq!(smtp.received().len(), 1);
    let (_, _, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
    assert!(emailed_at.is_some());
}

#[tokio::test]
async fn smtp_server_down_releases_claim() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[3]).await;
    let message = &fixture.tickets[0];
    // A port that was free a moment ago, so the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = ticket_config(&temporary_mail_dir(), Some(format!("smtp://{closed}")));
    let worker = TicketWorker::from_config(&config, db.database.clone()).unwrap();

    let err = worker.handle(message).await.unwrap_err();
    assert!(!err.is_permanent(), "a refused connection is transient: {err}");
    let (_, claimed_at, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
    assert_eq!(claimed_at, None);
    assert_eq!(emailed_at, None);
}

#[tokio::test]
async fn process_retries_until_smtp_recovers() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[6]).await;
    let message = fixture.tickets[0].clone();
    let smtp = FakeSmtp::start().await;
    smtp.fail_with(Some("421 4.3.2 Service not available"));
    let worker = smtp_worker(&db, &smtp);
    let shutdown = CancellationToken::new();

    let task = {
        let worker = worker.clone();
        let message = message.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { worker.process(&message, &shutdown).await })
    };
    ticket_support::eventually(Duration::from_secs(10), "three rejected attempts", || async {
        (smtp.rejected() >= 3).then_some(())
    })
    .await;
    assert!(!task.is_finished(), "a transient failure is retried, not skipped");
    smtp.fail_with(None);

    let done = tokio::time::timeout(Duration::from_secs(15), task).await.expect("process finishes").unwrap();
    assert!(done);
    assert_eq!(smtp.received().len(), 1);
    let (_, _, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
    assert!(emailed_at.is_some());
}

#[tokio::test]
async fn permanent_rejection_is_skipped() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[8]).await;
    let message = &fixture.tickets[0];
    let smtp = FakeSmtp::start().await;
    smtp.fail_with(Some("554 5.7.1 Message rejected"));
    let worker = smtp_worker(&db, &smtp);

    let err = worker.handle(message).await.unwrap_err();
    assert!(err.is_permanent(), "a 5xx reply is permanent: {err}");

    let shutdown = CancellationToken::new();
    let done = tokio::time::timeout(Duration::from_secs(10), worker.process(message, &shutdown)).await.unwrap();
    assert!(done, "the message is skipped after its attempts, so its offset can be committed");
    assert_eq!(smtp.rejected(), 4);
    let (_, claimed_at, emailed_at) = ticket_state(&db.pool, message.ticket_id).await;
    assert_eq!(claimed_at, None);
    assert_eq!(emailed_at, None, "a skipped ticket stays unsent");
}

#[tokio::test]
async fn live_claim_waits_and_expired_claim_is_taken() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[1]).await;
    let message = &fixture.tickets[0];
    let smtp = FakeSmtp::start().await;
    let worker = smtp_worker(&db, &smtp);

    // Another worker claimed the ticket a moment ago and is still sending.
    sqlx::query("UPDATE tickets SET email_claimed_at = now() WHERE id = $1")
        .bind(message.ticket_id.as_uuid())
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(worker.handle(message).await.unwrap(), Handled::ClaimedElsewhere);
    assert!(smtp.received().is_empty());

    // A process waiting on that claim stops on shutdown without reporting the message done.
    let shutdown = CancellationToken::new();
    let waiting = {
        let worker = worker.clone();
        let message = message.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { worker.process(&message, &shutdown).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    assert!(!waiting.await.unwrap());

    // That worker crashed: its claim is older than the lease, so this worker sends.
    let lease_seconds = ticket::CLAIM_LEASE.as_secs() as i64 + 1;
    sqlx::query("UPDATE tickets SET email_claimed_at = now() - $2 * interval '1 second' WHERE id = $1")
        .bind(message.ticket_id.as_uuid())
        .bind(lease_seconds)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(worker.handle(message).await.unwrap(), Handled::Sent);
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn mismatched_message_is_rejected() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &[2]).await;
    let dir = temporary_mail_dir();
    let worker = file_worker(&db, &dir);

    let wrong_seat = TicketMessage { seat: SeatIndex::new(3).unwrap(), ..fixture.tickets[0].clone() };
    let err = worker.handle(&wrong_seat).await.unwrap_err();
    assert!(matches!(err, HandleError::Rejected(_)), "got {err:?}");
    assert!(err.is_permanent());

    let unknown = TicketMessage { ticket_id: onsale_shared::TicketId::random(), ..fixture.tickets[0].clone() };
    let err = worker.handle(&unknown).await.unwrap_err();
    assert!(err.to_string().contains("not found"), "got {err}");

    assert!(eml_files(&dir).is_empty());
    let (secret, claimed_at, _) = ticket_state(&db.pool, fixture.tickets[0].ticket_id).await;
    assert_eq!(secret, None, "a rejected message signs nothing");
    assert_eq!(claimed_at, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signing_key_config_is_checked() {
    let dir = temporary_mail_dir();
    let mut config = ticket_config(&dir, None);
    let key = ticket::signing_key(&config).unwrap();
    assert_eq!(key.to_bytes(), signing_key().to_bytes());

    config.signing_key = Some(onsale_origin::config::Secret::new("not base64!"));
    let err = ticket::signing_key(&config).unwrap_err().to_string();
    assert!(err.contains("--ticket-signing-key"), "got {err}");

    config.signing_key = Some(onsale_origin::config::Secret::new("AAAA"));
    let err = ticket::signing_key(&config).unwrap_err().to_string();
    assert!(err.contains("32-byte"), "got {err}");

    config.signing_key = None;
    let random = ticket::signing_key(&config).unwrap();
    assert_ne!(random.to_bytes(), signing_key().to_bytes());
}
