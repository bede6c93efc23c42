mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/faro-prod-role"
    }
  }
  mock_resource "aws_launch_template" {
    defaults = {
      id = "lt-0123456789abcdef0"
    }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      identity = [{ oidc = [{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123" }] }]
    }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      endpoint = "faro-prod-pg.abc.eu-west-1.rds.amazonaws.com:5432"
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-prod"
        kms_key_id    = "alias/aws/secretsmanager"
        secret_status = "active"
      }]
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::faro-prod-chunks-test"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:faro-prod-chunks"
    }
  }
  mock_resource "aws_instance" {
    defaults = {
      id         = "i-0123456789abcdef0"
      private_ip = "10.40.16.10"
    }
  }
  mock_resource "aws_network_interface" {
    defaults = {
      private_ip = "10.40.16.10"
    }
  }
  mock_resource "aws_ebs_volume" {
    defaults = {
      id = "vol-0123456789abcdef0"
    }
  }
  mock_data "aws_subnet" {
    defaults = {
      availability_zone = "eu-west-1a"
    }
  }
}

variables {
  vpn_client_cidr              = "203.0.113.0/24"
  chunk_bucket_name            = "faro-prod-chunks-test"
  qdrant_api_key_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/faro/prod/qdrant-api-key"
  qdrant_ami_id                = "ami-0123456789abcdef0"
  bastion_ami_id               = "ami-0123456789abcdef0"
}

run "composition_outputs" {
  command = apply

  assert {
    condition     = output.cluster_name == "faro-prod"
    error_message = "cluster name output"
  }

  assert {
    condition     = output.rds_endpoint == "faro-prod-pg.abc.eu-west-1.rds.amazonaws.com:5432" && output.rds_master_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-prod"
    error_message = "RDS endpoint and master secret ARN outputs"
  }

  assert {
    condition     = output.qdrant_private_ip == "10.40.16.10" && output.qdrant_private_ips == ["10.40.16.10"]
    error_message = "Qdrant private IP output"
  }

  assert {
    condition     = output.rds_read_address == null
    error_message = "no read replica unless asked"
  }

  assert {
    condition     = output.chunk_bucket == "faro-prod-chunks-test" && output.chunk_queue_url != null && output.chunk_dlq_url != null && output.chunk_queue_url != output.chunk_dlq_url
    error_message = "bucket, queue and DLQ outputs"
  }

  assert {
    condition     = toset(keys(output.irsa_role_arns)) == toset(["chunker", "embedder", "query", "consistency", "operator"])
    error_message = "one IRSA role ARN per workload"
  }

  assert {
    condition     = output.keda_operator_role_arn == null
    error_message = "no KEDA role unless asked"
  }

  assert {
    condition     = module.rds.endpoint != null && length(module.network.private_subnet_ids) == 3
    error_message = "RDS is placed in the three private subnets"
  }
}

run "keda_role_when_asked" {
  command = apply

  variables {
    keda_service_account = { namespace = "keda", name = "keda-operator" }
  }

  assert {
    condition     = output.keda_operator_role_arn != null && output.keda_operator_role_arn == module.irsa.keda_operator_role_arn
    error_message = "the KEDA operator role ARN is an output when KEDA scales the embedders"
  }
}
