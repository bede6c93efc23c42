locals {
  # Node 0 is in subnet_id; the others take peer_subnet_ids in turn (spread them over zones), else subnet_id.
  subnet_ids = [
    for i in range(var.node_count) :
    i == 0 || length(var.peer_subnet_ids) == 0 ? var.subnet_id : var.peer_subnet_ids[(i - 1) % length(var.peer_subnet_ids)]
  ]
}

data "aws_subnet" "node" {
  count = var.node_count
  id    = local.subnet_ids[count.index]
}

moved {
  from = data.aws_subnet.this
  to   = data.aws_subnet.node[0]
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

# Each node's network interface exists before its instance, so every node's user data can name node 0's
# address (where the others join the cluster) and its own (what it announces to its peers).
resource "aws_network_interface" "node" {
  count           = var.node_count
  subnet_id       = local.subnet_ids[count.index]
  security_groups = [var.security_group_id]
  description     = "${var.name} Qdrant node ${count.index}"
  tags            = merge(var.tags, { Name = "${var.name}-qdrant-${count.index}" })
}

resource "aws_ebs_volume" "data" {
  count             = var.node_count
  availability_zone = data.aws_subnet.node[count.index].availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.kms_key_id
  tags              = merge(var.tags, { Name = count.index == 0 ? "${var.name}-qdrant-data" : "${var.name}-qdrant-data-${count.index}" })
}

moved {
  from = aws_ebs_volume.data
  to   = aws_ebs_volume.data[0]
}

resource "aws_instance" "qdrant" {
  count                = var.node_count
  ami                  = var.ami_id
  instance_type        = var.instance_type
  iam_instance_profile = aws_iam_instance_profile.qdrant.name
  ebs_optimized        = true

  # In a private subnet, with the Qdrant security group only, and no public address (the interface has none).
  network_interface {
    network_interface_id = aws_network_interface.node[count.index].id
    device_index         = 0
  }

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    qdrant_version = var.qdrant_version
    parameter_arn  = var.api_key_parameter_arn
    region         = split(":", var.api_key_parameter_arn)[3]
    volume_serial  = replace(aws_ebs_volume.data[count.index].id, "-", "")
    # Distributed mode with more than one node: node 0 starts the cluster, the others join it through it.
    cluster       = var.node_count > 1
    self_uri      = "http://${aws_network_interface.node[count.index].private_ip}:6335"
    bootstrap_uri = count.index == 0 ? "" : "http://${aws_network_interface.node[0].private_ip}:6335"
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

  tags = merge(var.tags, { Name = count.index == 0 ? "${var.name}-qdrant" : "${var.name}-qdrant-${count.index}" })
}

moved {
  from = aws_instance.qdrant
  to   = aws_instance.qdrant[0]
}

resource "aws_volume_attachment" "data" {
  count       = var.node_count
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[count.index].id
  instance_id = aws_instance.qdrant[count.index].id
}

moved {
  from = aws_volume_attachment.data
  to   = aws_volume_attachment.data[0]
}
