data "aws_subnet" "this" {
  id = var.subnet_id
}

resource "aws_iam_role" "qdrant" {
  name = "${var.name}-qdrant"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

# The only permission of the instance: read the API key parameter.
resource "aws_iam_role_policy" "api_key" {
  name = "${var.name}-qdrant-api-key"
  role = aws_iam_role.qdrant.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadQdrantApiKey"
      Effect   = "Allow"
      Action   = "ssm:GetParameter"
      Resource = var.api_key_parameter_arn
    }]
  })
}

resource "aws_iam_instance_profile" "qdrant" {
  name = "${var.name}-qdrant"
  role = aws_iam_role.qdrant.name
  tags = var.tags
}

resource "aws_ebs_volume" "data" {
  availability_zone = data.aws_subnet.this.availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.kms_key_id
  tags              = merge(var.tags, { Name = "${var.name}-qdrant-data" })
}

resource "aws_instance" "qdrant" {
  ami                         = var.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [var.security_group_id]
  iam_instance_profile        = aws_iam_instance_profile.qdrant.name
  associate_public_ip_address = false
  ebs_optimized               = true

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    qdrant_version = var.qdrant_version
    parameter_arn  = var.api_key_parameter_arn
    region         = split(":", var.api_key_parameter_arn)[3]
    volume_serial  = replace(aws_ebs_volume.data.id, "-", "")
  })
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
    kms_key_id  = var.kms_key_id
  }

  tags = merge(var.tags, { Name = "${var.name}-qdrant" })
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.qdrant.id
}
