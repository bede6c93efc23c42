mock_provider "aws" {
  mock_resource "aws_db_instance" {
    defaults = {
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-test"
        kms_key_id    = "alias/aws/secretsmanager"
        secret_status = "active"
      }]
    }
  }
}

variables {
  name               = "faro-test"
  private_subnet_ids = ["subnet-aaa", "subnet-bbb"]
  security_group_id  = "sg-0123456789abcdef0"
}

run "private_encrypted_managed_password" {
  command = plan

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false
    error_message = "RDS must not be publicly accessible"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted == true
    error_message = "RDS storage must be encrypted"
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && aws_db_instance.this.password == null
    error_message = "the master password must be managed by RDS in Secrets Manager, with no literal password"
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 7
    error_message = "backups (PITR) must be kept at least 7 days"
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection == true
    error_message = "deletion protection must default to true"
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "16.4"
    error_message = "engine must default to PostgreSQL 16.4"
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16"
    error_message = "parameter group family must follow the engine version"
  }

  assert {
    condition     = aws_db_instance.this.vpc_security_group_ids == toset(["sg-0123456789abcdef0"])
    error_message = "the instance must use only the RDS security group"
  }

  assert {
    condition     = aws_db_subnet_group.this.subnet_ids == toset(["subnet-aaa", "subnet-bbb"])
    error_message = "the DB subnet group must use the private subnets"
  }
}

run "secret_arn_output" {
  command = apply

  assert {
    condition     = output.master_user_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-test"
    error_message = "the master secret ARN must be an output"
  }
}

run "pg15_family" {
  command = plan

  variables {
    engine_version      = "15.7"
    deletion_protection = false
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres15" && aws_db_instance.this.deletion_protection == false
    error_message = "family must be postgres15 for 15.x and deletion_protection must be configurable"
  }
}

run "rejects_short_backups" {
  command = plan

  variables {
    backup_retention_period = 1
  }

  expect_failures = [var.backup_retention_period]
}

run "rejects_pg14" {
  command = plan

  variables {
    engine_version = "14.12"
  }

  expect_failures = [var.engine_version]
}

run "no_replica_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_db_instance.replica) == 0 && output.read_address == null
    error_message = "no read replica by default"
  }
}

run "read_replica_of_the_primary" {
  command = apply

  variables {
    read_replica                = true
    read_replica_instance_class = "db.r6g.large"
  }

  assert {
    condition     = aws_db_instance.replica[0].replicate_source_db == aws_db_instance.this.identifier
    error_message = "the replica must replicate the primary"
  }

  assert {
    condition     = aws_db_instance.replica[0].publicly_accessible == false && aws_db_instance.replica[0].storage_encrypted == true
    error_message = "the replica must be private and encrypted like the primary"
  }

  assert {
    condition     = aws_db_instance.replica[0].vpc_security_group_ids == toset(["sg-0123456789abcdef0"]) && aws_db_instance.replica[0].instance_class == "db.r6g.large"
    error_message = "the replica must use the RDS security group and its own instance class"
  }

  assert {
    condition     = output.read_address == aws_db_instance.replica[0].address
    error_message = "read_address must be the replica's host"
  }
}
