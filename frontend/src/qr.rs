//! QR codes of ticket secrets, rendered in the browser as SVG so that a ticket needs no image
//! request and stays sharp at any zoom.

use qrcode::QrCode;
use qrcode::render::svg;

/// Renders `secret` as an SVG QR code at least `min_size` pixels wide, with the standard quiet
/// zone. Returns `None` when the secret is too long for a QR code (about 2,300 bytes at the
/// default error correction level), which a signed ticket secret never is.
pub fn qr_svg(secret: &str, min_size: u32) -> Option<String> {
    let code = QrCode::new(secret.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(min_size, min_size)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer starts with an XML declaration, which has no place inside an HTML page.
    let start = image.find("<svg").unwrap_or(0);
    Some(image[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_renders_as_inline_svg() {
        let svg = qr_svg("eyJ0aWNrZXQiOiIxMjMifQ.signature", 160).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("<path"));
    }

    /// Rasterizes the renderer's SVG, whose path is a list of `M{x} {y}h{w}v{h}H{x}V{y}`
    /// rectangles, and returns its size and dark pixels.
    fn rasterize(svg: &str) -> (usize, usize, Vec<bool>) {
        let attribute = |name: &str| -> usize {
            let start = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            svg[start..].split('"').next().unwrap().parse().unwrap()
        };
        let (width, height) = (attribute("width"), attribute("height"));
        let mut dark = vec![false; width * height];
        let path_start = svg.find(" d=\"").unwrap() + 4;
        let path = svg[path_start..].split('"').next().unwrap();
        for rect in path.split('M').filter(|rect| !rect.is_empty()) {
            let numbers: Vec<usize> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|number| !number.is_empty())
                .map(|number| number.parse().unwrap())
                .collect();
            let (left, top, w, h) = (numbers[0], numbers[1], numbers[2], numbers[3]);
            for y in top..top + h {
                for x in left..left + w {
                    dark[y * width + x] = true;
                }
            }
        }
        (width, height, dark)
    }

    #[test]
    fn rendered_code_scans_back_to_the_secret() {
        let secret = "eyJ0IjoiN2YzYyIsImUiOjI2LCJzIjoxMjI4NH0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";
        let (width, height, dark) = rasterize(&qr_svg(secret, 200).unwrap());
        let mut image = rqrr::PreparedImage::prepare_from_bitmap(width, height, |x, y| dark[y * width + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the image");
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, secret);
    }

    #[test]
    fn oversized_secret_is_rejected() {
        assert_eq!(qr_svg(&"x".repeat(5_000), 160), None);
    }
}
