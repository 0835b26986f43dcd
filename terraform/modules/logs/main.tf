# One bucket for the access logs of the ALB and of CloudFront. Both writers impose its settings:
# ALB access logs accept only SSE-S3 encryption (not SSE-KMS), and CloudFront standard logging
# writes through an ACL grant, so object ownership must allow ACLs.

data "aws_caller_identity" "current" {}
data "aws_elb_service_account" "current" {}
data "aws_partition" "current" {}

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18: This is the access-log bucket itself; logging it to another bucket would only move the question one bucket further.
  # checkov:skip=CKV_AWS_144: Access logs are kept for troubleshooting within one region; replicating them doubles their cost for no recovery need.
  # checkov:skip=CKV_AWS_145: ALB access logging supports only SSE-S3 (AES256) on its target bucket, not SSE-KMS.
  # checkov:skip=CKV2_AWS_62: Nothing consumes log-object events; readers query the logs in place.
  bucket_prefix = "${var.name}-logs-"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  # checkov:skip=CKV2_AWS_65: CloudFront standard logging writes through an ACL grant, so this bucket must keep ACLs enabled; public access stays blocked.
  bucket = aws_s3_bucket.logs.id

  rule {
    # CloudFront standard logging needs ACLs; BucketOwnerPreferred makes the bucket owner own
    # the objects that the log delivery account writes.
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_acl" "logs" {
  bucket = aws_s3_bucket.logs.id
  acl    = "log-delivery-write"

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "AlbWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.logs.arn,
      "${aws_s3_bucket.logs.arn}/*",
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

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
