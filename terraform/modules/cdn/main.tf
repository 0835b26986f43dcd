# CloudFront in front of the ALB and of the frontend's static files, with one cache behaviour per
# kind of route:
#   browse (event lists, event pages, seat geometry): cached up to a day, as the origin allows;
#   the availability bitmap: cached for at most 1 second;
#   queue, seat, order, fan and operator routes: never cached;
#   seat routes additionally pass the Lambda@Edge gate on viewer request, which rejects a
#   missing, forged, expired or wrong-event admission token with 403 at the edge.
# Everything else is the frontend from S3.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  api_origin      = "alb"
  frontend_origin = "frontend"

  # AWS managed policies (their ids are fixed, the same in every account).
  caching_disabled_policy_id       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  caching_optimized_policy_id      = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  all_viewer_except_host_policy_id = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

  all_methods  = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
  read_methods = ["GET", "HEAD", "OPTIONS"]

  # Routes that are never cached, in the order CloudFront matches them. gated routes run the
  # Lambda@Edge gate first.
  uncached_routes = [
    { path = "/api/v1/events/*/holds*", gated = true },
    { path = "/api/v1/events/*/queue*", gated = false },
    { path = "/api/v1/orders/*", gated = false },
    { path = "/api/v1/fans*", gated = false },
    { path = "/api/v1/admin/*", gated = false },
  ]
}

# --- Frontend bucket ---------------------------------------------------------------------------

resource "aws_s3_bucket" "frontend" {
  # checkov:skip=CKV_AWS_144: The frontend is a build output that CI can upload again to any region; replication would add cost, not recovery.
  # checkov:skip=CKV_AWS_145: SSE-S3 encrypts the public web app's files; SSE-KMS would add a KMS call to every CloudFront cache miss and protects nothing secret.
  # checkov:skip=CKV2_AWS_62: Nothing consumes upload events; a deploy invalidates the CloudFront cache itself.
  bucket_prefix = "${var.name}-frontend-"
  force_destroy = var.frontend_force_destroy
}

resource "aws_s3_bucket_public_access_block" "frontend" {
  bucket                  = aws_s3_bucket.frontend.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "frontend" {
  bucket = aws_s3_bucket.frontend.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "frontend" {
  bucket = aws_s3_bucket.frontend.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "frontend" {
  bucket = aws_s3_bucket.frontend.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "frontend" {
  bucket = aws_s3_bucket.frontend.id

  rule {
    id     = "expire-replaced-files"
    status = "Enabled"

    filter {}

    # Files replaced by a deploy stay 30 days, so a rollback can copy them back.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "frontend" {
  bucket        = aws_s3_bucket.frontend.id
  target_bucket = var.log_bucket_id
  target_prefix = "s3-frontend/"
}

resource "aws_cloudfront_origin_access_control" "frontend" {
  name                              = "${var.name}-frontend"
  description                       = "CloudFront reads the onsale frontend bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_iam_policy_document" "frontend" {
  statement {
    sid       = "CloudFrontReadsFiles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.frontend.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }

  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.frontend.arn,
      "${aws_s3_bucket.frontend.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "frontend" {
  bucket = aws_s3_bucket.frontend.id
  policy = data.aws_iam_policy_document.frontend.json

  depends_on = [aws_s3_bucket_public_access_block.frontend]
}

# The web app routes in the browser: a path without a file extension gets index.html.
resource "aws_cloudfront_function" "spa_index" {
  name    = "${var.name}-spa-index"
  runtime = "cloudfront-js-2.0"
  comment = "Serve index.html for web app routes"
  publish = true
  code    = file("${path.module}/spa_index.js")
}

# Security headers on every response: HSTS, no MIME sniffing, no framing (clickjacking of the
# seat map or checkout), and no referrer beyond the origin.
resource "aws_cloudfront_response_headers_policy" "security" {
  # checkov:skip=CKV_AWS_259: HSTS is sent for a year with subdomains, but without preload: preloading binds the whole registered domain, a decision for its owner, not for this module.
  name    = "${var.name}-security-headers"
  comment = "Security headers of onsale responses"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = false
      override                   = true
    }

    content_type_options {
      override = true
    }

    frame_options {
      frame_option = "DENY"
      override     = true
    }

    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
  }
}

# --- Cache policies ----------------------------------------------------------------------------

resource "aws_cloudfront_cache_policy" "browse" {
  name        = "${var.name}-browse"
  comment     = "Event lists, event pages and seat geometry: as long as the origin's Cache-Control allows"
  min_ttl     = 0
  default_ttl = var.browse_default_ttl_seconds
  max_ttl     = var.browse_max_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    # City and date filters of the event list are query parameters.
    query_strings_config {
      query_string_behavior = "all"
    }
  }
}

resource "aws_cloudfront_cache_policy" "availability" {
  name        = "${var.name}-availability"
  comment     = "Availability bitmaps: at most ${var.availability_ttl_seconds} s old"
  min_ttl     = 0
  default_ttl = var.availability_ttl_seconds
  max_ttl     = var.availability_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "all"
    }
  }
}

# --- Lambda@Edge gate --------------------------------------------------------------------------

data "archive_file" "edge" {
  type        = "zip"
  source_dir  = var.edge_package_dir
  output_path = "${path.root}/.terraform/build/${var.name}-edge-gate.zip"
}

data "aws_iam_policy_document" "edge_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "edge" {
  name               = "${var.name}-edge-gate"
  assume_role_policy = data.aws_iam_policy_document.edge_assume.json
}

# Lambda@Edge writes its logs to /aws/lambda/us-east-1.FUNCTION in whichever region served the
# request, so the role may create log groups of that name in any region.
data "aws_iam_policy_document" "edge_logs" {
  statement {
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:logs:*:${data.aws_caller_identity.current.account_id}:log-group:/aws/lambda/us-east-1.${var.name}-edge-gate:*"]
  }
}

resource "aws_iam_role_policy" "edge_logs" {
  name   = "write-edge-logs"
  role   = aws_iam_role.edge.id
  policy = data.aws_iam_policy_document.edge_logs.json
}

resource "aws_lambda_function" "edge" {
  provider = aws.us_east_1

  # checkov:skip=CKV_AWS_50: Lambda@Edge does not support X-Ray active tracing.
  # checkov:skip=CKV_AWS_115: Lambda@Edge does not support reserved concurrency; CloudFront scales it per edge location.
  # checkov:skip=CKV_AWS_116: Lambda@Edge viewer-request functions run synchronously and cannot have a dead-letter queue.
  # checkov:skip=CKV_AWS_117: Lambda@Edge functions cannot run inside a VPC.
  # checkov:skip=CKV_AWS_173: Lambda@Edge functions have no environment variables; the gate's public key is built into the package.
  # checkov:skip=CKV_AWS_272: The package is built from this repository by scripts/build-edge.sh in CI; Lambda@Edge would need a signing profile per release, which is not set up yet.
  function_name    = "${var.name}-edge-gate"
  description      = "onsale admission-token gate for seat routes (built from edge/)"
  role             = aws_iam_role.edge.arn
  handler          = var.edge_handler
  runtime          = var.edge_runtime
  filename         = data.archive_file.edge.output_path
  source_code_hash = data.archive_file.edge.output_base64sha256
  # CloudFront needs a numbered version, never $LATEST.
  publish = true
  # Viewer-request functions are limited to 128 MB and 5 seconds.
  memory_size = 128
  timeout     = 5
}

# --- WAF ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "waf" {
  provider = aws.us_east_1
  count    = var.waf_enabled ? 1 : 0

  # checkov:skip=CKV_AWS_158: The deployment's KMS key lives in the main region, and this group must be in us-east-1; CloudWatch Logs encrypts it with its own key.
  # WAF requires the aws-waf-logs- prefix.
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = 365
}

resource "aws_wafv2_web_acl" "this" {
  provider = aws.us_east_1
  count    = var.waf_enabled ? 1 : 0

  name        = "${var.name}-cdn"
  description = "onsale CloudFront: AWS managed rules and a per-address rate limit"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-address"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  # Addresses that AWS threat intelligence lists as bots or attackers.
  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  # Request patterns of known exploits, among them Log4j (CVE-2021-44228).
  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # Common web exploit rules. Its 8 KB body limit is far above onsale's request bodies (seat lists,
  # checkout details).
  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-cdn"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  provider = aws.us_east_1
  count    = var.waf_enabled ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]
}

# --- Distribution ------------------------------------------------------------------------------

resource "aws_cloudfront_distribution" "this" {
  # checkov:skip=CKV2_AWS_47: With waf_enabled the web ACL has the Log4j rules (AWSManagedRulesKnownBadInputsRuleSet). The check also demands AWSManagedRulesAnonymousIpList, which would block fans behind VPNs and corporate proxies from buying tickets. With waf_enabled = false (examples/staging) there is no web ACL at all.
  # checkov:skip=CKV_AWS_310: The API origin is one ALB over three zones, and there is no second origin to fail over to; the frontend bucket is regional S3.
  # checkov:skip=CKV_AWS_374: An onsale sells to fans wherever they are; restrict countries per sale with geo_restriction if a promoter requires it.
  enabled             = true
  comment             = "${var.name}: onsale"
  aliases             = [var.domain_name]
  price_class         = var.price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  default_root_object = "index.html"
  web_acl_id          = var.waf_enabled ? aws_wafv2_web_acl.this[0].arn : null

  origin {
    origin_id   = local.api_origin
    domain_name = var.origin_domain_name

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 30
      origin_keepalive_timeout = 60
    }
  }

  origin {
    origin_id                = local.frontend_origin
    domain_name              = aws_s3_bucket.frontend.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.frontend.id
  }

  # The availability bitmap comes before the browse catch-all, which would otherwise match it.
  ordered_cache_behavior {
    path_pattern               = "/api/v1/events/*/availability"
    target_origin_id           = local.api_origin
    viewer_protocol_policy     = "https-only"
    allowed_methods            = local.read_methods
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = aws_cloudfront_cache_policy.availability.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.uncached_routes

    content {
      path_pattern               = ordered_cache_behavior.value.path
      target_origin_id           = local.api_origin
      viewer_protocol_policy     = "https-only"
      allowed_methods            = local.all_methods
      cached_methods             = ["GET", "HEAD"]
      cache_policy_id            = local.caching_disabled_policy_id
      origin_request_policy_id   = local.all_viewer_except_host_policy_id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
      compress                   = true

      dynamic "lambda_function_association" {
        for_each = ordered_cache_behavior.value.gated ? [aws_lambda_function.edge.qualified_arn] : []

        content {
          event_type   = "viewer-request"
          lambda_arn   = lambda_function_association.value
          include_body = false
        }
      }
    }
  }

  ordered_cache_behavior {
    path_pattern               = "/api/v1/*"
    target_origin_id           = local.api_origin
    viewer_protocol_policy     = "https-only"
    allowed_methods            = local.read_methods
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = aws_cloudfront_cache_policy.browse.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  default_cache_behavior {
    target_origin_id           = local.frontend_origin
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = local.caching_optimized_policy_id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.spa_index.arn
    }
  }

  logging_config {
    bucket          = var.log_bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }
}
