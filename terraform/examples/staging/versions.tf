terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }

  # State lives in S3, configured at init time (docs/DEPLOY.md, "State"):
  #   terraform init -backend-config=bucket=... -backend-config=key=... -backend-config=region=...
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "onsale"
      Deployment  = var.name
      ManagedBy   = "terraform"
    }
  }
}

# CloudFront takes Lambda@Edge functions, WAF web ACLs and viewer certificates from us-east-1
# only, whatever region the rest of the stack runs in.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Application = "onsale"
      Deployment  = var.name
      ManagedBy   = "terraform"
    }
  }
}
