resource "aws_instance" "bastion" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.public_subnet_id
  vpc_security_group_ids = [var.security_group_id]
  key_name               = var.key_name
  source_dest_check      = false # it routes the VPN clients' traffic into the VPC
  ebs_optimized          = true

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    vpn_port        = var.vpn_port
    pool_network    = cidrhost(var.vpn_pool_cidr, 0)
    pool_netmask    = cidrnetmask(var.vpn_pool_cidr)
    vpc_network     = cidrhost(var.vpc_cidr, 0)
    vpc_netmask     = cidrnetmask(var.vpc_cidr)
    vpc_dns_address = cidrhost(var.vpc_cidr, 2)
  })
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 10
    encrypted   = true
  }

  tags = merge(var.tags, { Name = "${var.name}-bastion" })
}

# A stable public address for the VPN clients.
resource "aws_eip" "bastion" {
  domain   = "vpc"
  instance = aws_instance.bastion.id
  tags     = merge(var.tags, { Name = "${var.name}-bastion" })
}
