# One customer-managed key for the deployment's data at rest: Secrets Manager secrets, CloudWatch
# log groups, the RDS storage, ElastiCache, MSK and their snapshots. One key keeps the key policy
# in one place; split it per service if your compliance rules ask for separate keys.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109: This is a key policy. Its resource "*" means this key only, and the account root statement is what lets IAM policies grant access to the key.
  # checkov:skip=CKV_AWS_111: This is a key policy. Its resource "*" means this key only; CloudWatch Logs is limited to this account's log groups by the encryption context condition.
  # checkov:skip=CKV_AWS_356: This is a key policy, where "*" is the only valid resource and means this key.
  # The account administers the key through IAM policies. Without this statement nobody could
  # change or delete the key once it exists.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts log groups of this account only, which the encryption context
  # condition enforces.
  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: onsale data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
