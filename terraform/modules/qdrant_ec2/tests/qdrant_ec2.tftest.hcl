mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      availability_zone = "eu-west-1a"
    }
  }
  mock_resource "aws_ebs_volume" {
    defaults = {
      id = "vol-0123456789abcdef0"
    }
  }
  mock_resource "aws_instance" {
    defaults = {
      private_ip = "10.40.16.10"
    }
  }
}

variables {
  name                  = "faro-test"
  subnet_id             = "subnet-aaa"
  security_group_id     = "sg-0qdrant00000000000"
  ami_id                = "ami-0123456789abcdef0"
  api_key_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key"
}

run "hardened_instance" {
  command = apply

  assert {
    condition     = aws_instance.qdrant.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required"
  }

  assert {
    condition     = aws_instance.qdrant.associate_public_ip_address == false && aws_instance.qdrant.subnet_id == "subnet-aaa"
    error_message = "the instance must be in the private subnet without a public IP"
  }

  assert {
    condition     = aws_ebs_volume.data.encrypted == true && aws_instance.qdrant.root_block_device[0].encrypted == true
    error_message = "data and root volumes must be encrypted"
  }

  assert {
    condition     = aws_volume_attachment.data.volume_id == aws_ebs_volume.data.id && aws_ebs_volume.data.availability_zone == "eu-west-1a"
    error_message = "the data volume must be attached, in the subnet's AZ"
  }

  assert {
    condition     = aws_instance.qdrant.vpc_security_group_ids == toset(["sg-0qdrant00000000000"])
    error_message = "the instance must use only the Qdrant SG"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.api_key.policy).Statement == [{
      Sid      = "ReadQdrantApiKey"
      Effect   = "Allow"
      Action   = "ssm:GetParameter"
      Resource = "arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key"
    }]
    error_message = "the instance role may only ssm:GetParameter the API key parameter"
  }

  assert {
    condition = (
      strcontains(aws_instance.qdrant.user_data, "--name \"arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key\"") &&
      strcontains(aws_instance.qdrant.user_data, "--region \"eu-west-1\"") &&
      strcontains(aws_instance.qdrant.user_data, "vol0123456789abcdef0") &&
      strcontains(aws_instance.qdrant.user_data, "systemctl enable --now qdrant") &&
      strcontains(aws_instance.qdrant.user_data, "/v1.12.4/")
    )
    error_message = "user data must install and start Qdrant with the API key from SSM on the data volume"
  }

  assert {
    condition     = output.private_ip == "10.40.16.10"
    error_message = "the private IP must be an output"
  }
}

run "rejects_non_ssm_arn" {
  command = plan

  variables {
    api_key_parameter_arn = "plain-text-key"
  }

  expect_failures = [var.api_key_parameter_arn]
}
