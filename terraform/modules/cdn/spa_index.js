// CloudFront Function (viewer request) on the frontend's default behaviour: the web app routes
// in the browser, so a path without a file extension, such as /events/42, gets /index.html.
// Paths of real files (/app.wasm, /assets/logo.svg) pass unchanged.
function handler(event) {
  var request = event.request;
  var lastSegment = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (lastSegment.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
