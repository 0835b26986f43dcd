//! A WebSocket whose messages arrive through an async channel, and which closes itself when
//! dropped, so that leaving the waiting room page never leaves a socket open on the server.

use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// An event from the socket.
pub enum SocketEvent {
    Text(String),
    /// The connection closed or failed; no more events follow.
    Closed,
}

pub struct Socket {
    socket: web_sys::WebSocket,
    events: mpsc::UnboundedReceiver<SocketEvent>,
    /// The JavaScript callbacks live as long as the socket, so they are kept here.
    _callbacks: [Closure<dyn FnMut(JsValue)>; 3],
}

impl Socket {
    pub fn open(url: &str) -> Result<Socket, JsValue> {
        let socket = web_sys::WebSocket::new(url)?;
        let (sender, events) = mpsc::unbounded();

        let on_message = {
            let sender = sender.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let text = event.dyn_into::<web_sys::MessageEvent>().ok().and_then(|event| event.data().as_string());
                if let Some(text) = text {
                    let _ = sender.unbounded_send(SocketEvent::Text(text));
                }
            })
        };
        let on_close = {
            let sender = sender.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                let _ = sender.unbounded_send(SocketEvent::Closed);
            })
        };
        // A failed connection fires `error` and then `close`; `Closed` is sent for both, and
        // the reader stops at the first.
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = sender.unbounded_send(SocketEvent::Closed);
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket { socket, events, _callbacks: [on_message, on_close, on_error] })
    }

    /// Waits for the next event, which is `Closed` once the connection is gone.
    pub async fn next(&mut self) -> SocketEvent {
        self.events.next().await.unwrap_or(SocketEvent::Closed)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        self.socket.set_onerror(None);
        let _ = self.socket.close();
    }
}
