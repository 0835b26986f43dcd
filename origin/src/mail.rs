//! Ticket emails: the QR code of a ticket secret, the MIME message around it, and delivery by
//! SMTP or as one `.eml` file per ticket. Rendering is plain functions without I/O, so tests
//! can build and read a ticket email without Kafka or a mail server.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use qrcode::{EcLevel, QrCode};

use onsale_shared::{OrderId, TicketId};

use crate::config::TicketConfig;

/// Time limit of each SMTP command, so a hung server cannot hold a ticket's claim for long.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Side length in pixels of one QR module. A 139-character ticket secret needs a version-8
/// code at level M (qrcode 0.14): 49 modules plus a 4-module quiet zone on each side, so the
/// image is 342 pixels wide.
const QR_MODULE_PIXELS: u32 = 6;

/// Everything a ticket email shows, read from EventDB and OrderDB. It has no `Debug`, so the
/// secret cannot end up in a log by accident.
#[derive(Clone)]
pub struct TicketEmail {
    pub ticket: TicketId,
    pub order: OrderId,
    pub event_name: String,
    pub starts_at: DateTime<Utc>,
    /// The calendar date of the event where it takes place.
    pub local_date: NaiveDate,
    pub venue_name: String,
    pub venue_city: String,
    /// The seat's zone in the seating plan, shown as the section.
    pub zone: String,
    pub row: String,
    pub seat_number: String,
    /// The signed ticket secret that the QR code encodes.
    pub secret: String,
}

/// A ticket email that cannot be built. Retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("encoding the ticket secret as a QR code failed: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("encoding the QR code as PNG failed: {0}")]
    Png(#[from] image::ImageError),
    #[error("building the email failed: {0}")]
    Message(#[from] lettre::error::Error),
}

/// A square QR code image.
pub struct QrPng {
    pub png: Vec<u8>,
    /// Width and height in pixels.
    pub side: u32,
}

/// Renders `secret` as a black-on-white QR code PNG at error correction level M.
pub fn render_qr_png(secret: &str) -> Result<QrPng, RenderError> {
    let code = QrCode::with_error_correction_level(secret.as_bytes(), EcLevel::M)?;
    let image = code.render::<image::Luma<u8>>().module_dimensions(QR_MODULE_PIXELS, QR_MODULE_PIXELS).build();
    let mut png = Vec::new();
    image.write_to(&mut io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(QrPng { png, side: image.width() })
}

/// Returns the Message-ID of a ticket's email, `<ticket-UUID@domain>` with the domain of the
/// From address. Every email of one ticket carries the same id, so mail clients that receive
/// it twice show it once.
pub fn message_id(ticket: TicketId, from: &Mailbox) -> String {
    format!("<ticket-{ticket}@{}>", from.email.domain())
}

/// Returns the name of a ticket's `.eml` file in the mail directory.
pub fn eml_file_name(ticket: TicketId) -> String {
    format!("{ticket}.eml")
}

/// Builds the ticket email: a text part, and an HTML part with the QR code as an inline image
/// that the HTML references by Content-ID. Both parts contain the secret as text, so the fan
/// can type it in where a QR code does not scan.
pub fn build_ticket_message(email: &TicketEmail, from: &Mailbox, to: Mailbox) -> Result<Message, RenderError> {
    let qr = render_qr_png(&email.secret)?;
    let content_id = format!("qr-{}@{}", email.ticket, from.email.domain());

    let html = MultiPart::related().singlepart(SinglePart::html(html_body(email, &content_id, qr.side))).singlepart(
        Attachment::new_inline_with_name(content_id, format!("ticket-{}.png", email.ticket))
            .body(qr.png, ContentType::parse("image/png").expect("image/png is a valid content type")),
    );
    let body = MultiPart::alternative().singlepart(SinglePart::plain(text_body(email))).multipart(html);

    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(single_line(&format!("Your ticket: {}", email.event_name)))
        .message_id(Some(message_id(email.ticket, from)))
        .multipart(body)?;
    Ok(message)
}

/// Replaces control characters (line breaks among them) with spaces, for header values.
fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn display_date(email: &TicketEmail) -> String {
    email.local_date.format("%A %-d %B %Y").to_string()
}

// NOTE: venues have no time zone column, so the start time is shown in UTC next to the local
// calendar date. A venue far from UTC gets a correct date with a UTC time.
fn display_start(email: &TicketEmail) -> String {
    email.starts_at.format("%H:%M UTC").to_string()
}

fn text_body(email: &TicketEmail) -> String {
    format!(
        "Your ticket for {event}\n\
         \n\
         Date: {date}\n\
         Starts: {start}\n\
         Venue: {venue}, {city}\n\
         Section: {zone}\n\
         Row: {row}\n\
         Seat: {seat}\n\
         \n\
         Show the QR code in this email at the gate. If it does not scan, the staff can type in\n\
         this ticket code:\n\
         \n\
         {secret}\n\
         \n\
         Ticket {ticket}, order {order}.\n",
        event = email.event_name,
        date = display_date(email),
        start = display_start(email),
        venue = email.venue_name,
        city = email.venue_city,
        zone = email.zone,
        row = email.row,
        seat = email.seat_number,
        secret = email.secret,
        ticket = email.ticket,
        order = email.order,
    )
}

fn html_body(email: &TicketEmail, content_id: &str, qr_side: u32) -> String {
    let event = escape_html(&email.event_name);
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">{label}</th><td>{}</td></tr>\n",
            escape_html(value)
        )
    };
    let mut details = String::new();
    details.push_str(&row("Date", &display_date(email)));
    details.push_str(&row("Starts", &display_start(email)));
    details.push_str(&row("Venue", &format!("{}, {}", email.venue_name, email.venue_city)));
    details.push_str(&row("Section", &email.zone));
    details.push_str(&row("Row", &email.row));
    details.push_str(&row("Seat", &email.seat_number));

    format!(
        "<!DOCTYPE html>\n\
         <html><head><meta charset=\"utf-8\"><title>Your ticket: {event}</title></head>\n\
         <body style=\"font-family:sans-serif\">\n\
         <h1 style=\"font-size:20px\">{event}</h1>\n\
         <table>\n{details}</table>\n\
         <p><img src=\"cid:{cid}\" alt=\"QR code of your ticket\" width=\"{qr_side}\" height=\"{qr_side}\"></p>\n\
         <p>Show this QR code at the gate. If it does not scan, the staff can type in this ticket code:</p>\n\
         <p><code style=\"word-break:break-all\">{secret}</code></p>\n\
         <p style=\"color:#666\">Ticket {ticket}, order {order}.</p>\n\
         </body></html>\n",
        cid = escape_html(content_id),
        secret = escape_html(&email.secret),
        ticket = email.ticket,
        order = email.order,
    )
}

/// Escapes text for HTML element content and double-quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Destination of ticket emails.
#[derive(Clone)]
pub enum MailSink {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `<ticket-id>.eml` file per ticket in this directory.
    Directory(PathBuf),
}

/// An email that could not be sent or written.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{}", describe_smtp_error(.0))]
    Smtp(lettre::transport::smtp::Error),
    #[error("writing the .eml file failed: {0}")]
    File(#[from] io::Error),
}

impl SendError {
    /// Returns whether the mail server rejected the email with a 5xx reply, which a retry is
    /// unlikely to change. Connection failures, timeouts, 4xx replies and file errors are
    /// transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Smtp(err) => err.is_permanent(),
            SendError::File(_) => false,
        }
    }
}

/// Describes an SMTP error without the server's reply text, because that text can quote the
/// recipient's address and this description goes to the logs.
fn describe_smtp_error(err: &lettre::transport::smtp::Error) -> String {
    match err.status() {
        Some(code) if err.is_permanent() => format!("SMTP server rejected the email with {code}"),
        Some(code) => format!("SMTP server deferred the email with {code}"),
        None if err.is_timeout() => "SMTP connection timed out".to_owned(),
        None if err.is_response() => "SMTP server sent a reply that could not be parsed".to_owned(),
        None => format!("SMTP delivery failed: {err}"),
    }
}

impl MailSink {
    /// Builds the sink that the configuration selects: SMTP when `--smtp-url` is set, else the
    /// mail directory, which is created if missing.
    pub fn from_config(config: &TicketConfig) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|err| anyhow::anyhow!("invalid --smtp-url: {err}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(MailSink::Smtp(transport))
            }
            None => {
                let mail_dir = config.mail_dir();
                fs::create_dir_all(&mail_dir).map_err(|err| {
                    anyhow::anyhow!("creating the mail directory {} failed: {err}", mail_dir.display())
                })?;
                Ok(MailSink::Directory(mail_dir))
            }
        }
    }

    /// Returns a description of the sink for logs, without credentials.
    pub fn describe(&self) -> String {
        match self {
            MailSink::Smtp(_) => "smtp".to_owned(),
            MailSink::Directory(dir) => format!("files in {}", dir.display()),
        }
    }

    /// Sends the email of `ticket`. For the mail directory, an existing file for the ticket
    /// counts as sent and is left unchanged.
    pub async fn deliver(&self, ticket: TicketId, message: Message) -> Result<(), SendError> {
        match self {
            MailSink::Smtp(transport) => {
                transport.send(message).await.map_err(SendError::Smtp)?;
                Ok(())
            }
            MailSink::Directory(dir) => {
                let dir = dir.clone();
                let contents = message.formatted();
                tokio::task::spawn_blocking(move || write_eml(&dir, ticket, &contents))
                    .await
                    .map_err(|err| SendError::File(io::Error::other(err)))??;
                Ok(())
            }
        }
    }
}

/// Writes `<dir>/<ticket>.eml` unless that file exists, and returns whether this call wrote it.
///
/// The contents go to a uniquely named temporary file in `dir`, which is then hard-linked to
/// the final name. Unlike a rename, the link fails when the name exists, so two writers of one
/// ticket leave exactly one complete file and never a partial one.
pub fn write_eml(dir: &Path, ticket: TicketId, contents: &[u8]) -> io::Result<bool> {
    let path = dir.join(eml_file_name(ticket));
    if path.exists() {
        return Ok(false);
    }
    // NOTE: a crash between creating and removing the temporary file leaves a `.tmp` file in
    // the mail directory. Nothing reads those files, and nothing removes them.
    let temporary = dir.join(format!(".{ticket}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = write_and_link(&temporary, &path, contents);
    let _ = fs::remove_file(&temporary);
    if written? {
        sync_directory(dir)?;
        return Ok(true);
    }
    Ok(false)
}

fn write_and_link(temporary: &Path, path: &Path, contents: &[u8]) -> io::Result<bool> {
    let mut file = fs::File::create_new(temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    match fs::hard_link(temporary, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// Flushes the directory entry of a new file to disk, so the file survives a power loss after
/// the ticket is recorded as emailed.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_email() -> TicketEmail {
        TicketEmail {
            ticket: TicketId::random(),
            order: OrderId::random(),
            event_name: "Night <Show> & \"Friends\"".to_owned(),
            starts_at: DateTime::from_timestamp(1_781_380_800, 0).unwrap(),
            local_date: NaiveDate::from_ymd_opt(2026, 6, 13).unwrap(),
            venue_name: "Stadium".to_owned(),
            venue_city: "Lisbon".to_owned(),
            zone: "North".to_owned(),
            row: "12".to_owned(),
            seat_number: "7".to_owned(),
            secret: "OT1.secret".to_owned(),
        }
    }

    #[test]
    fn html_escapes_event_name() {
        let html = html_body(&sample_email(), "qr@example.com", 342);
        assert!(html.contains("Night &lt;Show&gt; &amp; &quot;Friends&quot;"));
        assert!(!html.contains("<Show>"));
    }

    #[test]
    fn qr_png_decodes_to_secret() {
        // The length of a real ticket secret: "OT1." and 135 base64url characters.
        let secret = format!("OT1.{}", "aB3-_zQ9".repeat(17).get(..135).unwrap());
        let qr = render_qr_png(&secret).unwrap();
        assert_eq!(qr.side, 342);
        let image = image::load_from_memory(&qr.png).unwrap().to_luma8();
        assert_eq!(image.width(), qr.side);
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, secret);
    }

    #[test]
    fn subject_has_no_line_breaks() {
        assert_eq!(single_line("a\r\nb"), "a  b");
    }

    #[test]
    fn message_id_uses_from_domain() {
        let from: Mailbox = "Box Office <tickets@example.com>".parse().unwrap();
        let ticket = TicketId::random();
        assert_eq!(message_id(ticket, &from), format!("<ticket-{ticket}@example.com>"));
    }

    #[test]
    fn text_body_shows_seat_and_secret() {
        let text = text_body(&sample_email());
        assert!(text.contains("Date: Saturday 13 June 2026"));
        assert!(text.contains("Section: North\nRow: 12\nSeat: 7"));
        assert!(text.contains("OT1.secret"));
    }

    #[test]
    fn write_eml_keeps_first_file() {
        let dir = std::env::temp_dir().join(format!("onsale-mail-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        let ticket = TicketId::random();
        assert!(write_eml(&dir, ticket, b"first").unwrap());
        assert!(!write_eml(&dir, ticket, b"second").unwrap());
        assert_eq!(fs::read(dir.join(eml_file_name(ticket))).unwrap(), b"first");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
