terraform {
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Configure a remote backend (S3 + lock) before the first real apply, e.g. in a backend.tf kept out of
  # this example; the tests run with -backend=false.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "faro"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
