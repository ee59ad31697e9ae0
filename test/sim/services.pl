#!/usr/bin/perl
# The services of one simulated machine: HTTP servers with a health path and plain TCP
# listeners, bound to the machine's own address. Runs inside the machine's namespaces. One small
# process (a few MB, a few ms to start) rather than a Node.js one (40 MB, a CPU-heavy start), so
# that a homelab of a hundred machines fits on a small computer; it answers as services.mjs did.
#
# argv: the machine (name, address, faults) and the services to run: the machine's own list, or
# the services.json of the system generation it boots or activates.
use strict;
use warnings;
use File::Basename qw(dirname);
use IO::Select;
use IO::Socket::INET;
use JSON::PP qw(decode_json);

sub slurp {
  my ($path) = @_;
  open my $file, '<', $path or die "$path: $!\n";
  local $/;
  return <$file>;
}

my ($spec_file, $list_file) = @ARGV;
my $spec = decode_json(slurp($spec_file));
my $list = decode_json(slurp($list_file // $spec_file));
my $services = ref $list eq 'ARRAY' ? $list : $list->{services};
my $healthy = !grep { $_ eq 'health-fails' } @{ $spec->{faults} // [] };

# A machine whose services are slow to start (its state directory's services-delay, seconds).
if (open my $delay_file, '<', dirname($spec_file) . '/services-delay') {
  my $delay = <$delay_file> // 0;
  chomp $delay;
  select(undef, undef, undef, $delay) if $delay > 0;
}

$SIG{PIPE} = 'IGNORE';
my $select = IO::Select->new;
my %listeners;    # fileno → { socket, service }
my %by_port;      # port → listener, for the services running now
my %clients;      # fileno → { socket, service, request }

sub open_listener {
  my ($service) = @_;
  my $listener = IO::Socket::INET->new(
    LocalAddr => $spec->{address},
    LocalPort => $service->{port},
    Proto     => 'tcp',
    Listen    => 128,
    ReuseAddr => 1,
  ) or die "listen on $spec->{address}:$service->{port}: $!\n";
  my $entry = { socket => $listener, service => $service };
  $listeners{ fileno $listener } = $entry;
  $by_port{ $service->{port} } = $entry;
  $select->add($listener);
}

sub runs {
  my ($service) = @_;
  return 0 if $service->{type} eq 'tcp' && !$healthy;
  return $service->{type} eq 'tcp' || $service->{type} eq 'http';
}

# Services stopped on the running machine (SimMachine.stopService: `systemctl stop` of it), by
# port, in the state directory's stopped-services; a boot starts them all again, as NixOS does.
my $stopped_file = dirname($spec_file) . '/stopped-services';
my $stopped_seen;    # what the file was when last read (undef: not read yet)

sub apply_stopped {
  my @stat = stat $stopped_file;
  my $seen = @stat ? "$stat[9]:$stat[7]:$stat[1]" : '';
  return if defined $stopped_seen && $seen eq $stopped_seen;
  $stopped_seen = $seen;
  my %stopped;
  if (@stat) {
    my $ports = eval { decode_json(slurp($stopped_file)) } // [];
    %stopped = map { $_ => 1 } @$ports;
  }
  for my $service (@$services) {
    next if !runs($service);
    my $entry = $by_port{ $service->{port} };
    if ($stopped{ $service->{port} } && $entry) {
      $select->remove($entry->{socket});
      delete $listeners{ fileno $entry->{socket} };
      delete $by_port{ $service->{port} };
      close $entry->{socket};
    } elsif (!$stopped{ $service->{port} } && !$entry) {
      open_listener($service);
    }
  }
}
apply_stopped();

sub respond {
  my ($client) = @_;
  my $service = $client->{service};
  my ($path) = $client->{request} =~ m{^\S+\s+(\S+)};
  my ($status, $reason, $body) = (404, 'Not Found', '');
  if (defined $path && $path eq ($service->{path} // '/health')) {
    ($status, $reason, $body) =
      $healthy
      ? ($service->{status} // 200, 'OK', "$spec->{name} ok\n")
      : (500, 'Internal Server Error', "$spec->{name} unhealthy\n");
  }
  my $socket = $client->{socket};
  $socket->blocking(1);
  print {$socket} "HTTP/1.1 $status $reason\r\nContent-Type: text/plain\r\n"
    . 'Content-Length: ' . length($body) . "\r\nConnection: close\r\n\r\n$body";
  close_client($client);
}

sub close_client {
  my ($client) = @_;
  $select->remove($client->{socket});
  delete $clients{ fileno $client->{socket} };
  close $client->{socket};
}

for (;;) {
  # Woken at least every 50 ms to see whether a service was stopped or started meanwhile.
  for my $handle ($select->can_read(0.05)) {
    if (my $listener = $listeners{ fileno $handle }) {
      my $socket = $handle->accept or next;
      if ($listener->{service}{type} eq 'tcp') {
        print {$socket} "$spec->{name}\n";
        close $socket;
        next;
      }
      $socket->blocking(0);
      $clients{ fileno $socket } = { socket => $socket, service => $listener->{service}, request => '' };
      $select->add($socket);
      next;
    }
    my $client = $clients{ fileno $handle } or next;
    my $read = sysread $handle, my $chunk, 8192;
    next if !defined $read && $!{EAGAIN};
    if (!$read) {
      close_client($client);
      next;
    }
    $client->{request} .= $chunk;
    respond($client) if $client->{request} =~ /\r?\n\r?\n/;
  }
  apply_stopped();
}

