mock_provider "aws" {
  mock_resource "aws_instance" {
    defaults = {
      id = "i-0123456789abcdef0"
    }
  }
}

variables {
  name              = "faro-test"
  public_subnet_id  = "subnet-public-a"
  security_group_id = "sg-0bastion000000000"
  ami_id            = "ami-0123456789abcdef0"
  vpc_cidr          = "10.40.0.0/16"
}

run "openvpn_bastion" {
  command = plan

  assert {
    condition     = aws_instance.bastion.subnet_id == "subnet-public-a" && aws_instance.bastion.vpc_security_group_ids == toset(["sg-0bastion000000000"])
    error_message = "the bastion must sit in the public subnet with only the bastion SG"
  }

  assert {
    condition     = aws_instance.bastion.metadata_options[0].http_tokens == "required" && aws_instance.bastion.root_block_device[0].encrypted == true
    error_message = "the bastion must require IMDSv2 and encrypt its root volume"
  }

  assert {
    condition = (
      strcontains(aws_instance.bastion.user_data, "dnf install -y openvpn") &&
      strcontains(aws_instance.bastion.user_data, "port 1194\nproto udp") &&
      strcontains(aws_instance.bastion.user_data, "server 172.27.224.0 255.255.240.0") &&
      strcontains(aws_instance.bastion.user_data, "push \"route 10.40.0.0 255.255.0.0\"") &&
      strcontains(aws_instance.bastion.user_data, "systemctl enable --now openvpn-server@server")
    )
    error_message = "user data must install and start OpenVPN on 1194/udp with the client pool and the VPC route"
  }
}
