# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
package KVCache::Server;
# A separate httpd running mod_kvcache, for tests that need server-wide
# settings of their own (circuit breakers, token store) or two servers.  It
# runs the prefork MPM with two children, so that two keep-alive
# connections are always served by two different processes.
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use File::Path qw(make_path);
use HTTP::Request ();
use IO::Socket::INET ();
use LWP::UserAgent ();
use Time::HiRes qw(sleep time);

use KVCache::Modules ();

# The modules of tools/httpd-modules.txt and mod_kvcache, under prefork;
# $extra comes last.
sub base_conf {
    my ($dir, $port, $extra) = @_;
    my $vars = Apache::Test::vars();
    my $load = KVCache::Modules::load_modules(
        top => $vars->{kvc_top}, libexec => $vars->{kvc_libexecdir},
        mpm => 'prefork');
    return <<"CONF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
Mutex file:$dir default
$load$extra
CONF
}

sub new {
    my ($class, %args) = @_;
    my $vars = Apache::Test::vars();
    my $self = bless {
        name => $args{name},
        port => $args{port},
        dir  => "$vars->{t_logs}/server-$args{name}",
        httpd => $vars->{httpd},
    }, $class;
    make_path($self->{dir});
    unlink map { "$self->{dir}/$_" } qw(error_log access_log);
    my $emu = "http://127.0.0.1";
    my $lmcache = $args{lmcache} // "$emu:$vars->{emu_ctl_port}";
    my $conf = base_conf($self->{dir}, $self->{port}, <<"CONF" . ($args{conf} // ''));
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 4
KeepAlive On
KeepAliveTimeout 30
LogLevel warn kvcache:debug
LogFormat "%P %{X-Test-Seq}i %>s %{KVCACHE_DECISION}e %{KVCACHE_ROUTE}e" seq
CustomLog "$self->{dir}/access_log" seq
Header always set X-KVCache-Decision "%{KVCACHE_DECISION}e" env=KVCACHE_DECISION
KVCacheVLLMEndpoint $emu:$vars->{emu_a_port}
KVCacheLMCacheEndpoint $lmcache
KVCacheDefaultModel demo-model
# Generous budgets, so that a loaded test machine does not turn answers
# into timeouts; tests about budgets set their own below.  3s for lookups:
# t/tls.t's https handshake with the Python emulator took over 500 ms per
# attempt under ASan on two busy cores (load 9), and 1s turned the
# certificate error it checks for into a timeout.
KVCacheLookupTimeout 3s
KVCacheTokenizeTimeout 2s
<Proxy "balancer://llm">
    BalancerMember "$emu:$vars->{emu_a_port}" route=vllm-a
    BalancerMember "$emu:$vars->{emu_b_port}" route=vllm-b
    BalancerMember "$emu:$vars->{emu_c_port}" route=vllm-c
    ProxySet lbmethod=kvcache
</Proxy>
<Location "/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
</Location>
CONF
    $self->{conf} = "$self->{dir}/httpd.conf";
    open my $fh, '>', $self->{conf} or die "$self->{conf}: $!";
    print $fh $conf;
    close $fh;
    return $self;
}

sub start {
    my $self = shift;
    unlink "$self->{dir}/httpd.pid";
    my $out = `$self->{httpd} -f $self->{conf} -k start 2>&1`;
    die "httpd $self->{name} did not start: $out" if $?;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        return $self->selfchecked if $sock && -s "$self->{dir}/httpd.pid";
        sleep 0.05;
    }
    die "httpd $self->{name} is not answering on port $self->{port}";
}

# Waits (a few seconds at most) for the startup self-check to finish, so
# that its calls to the emulator (/tokenize, /health, /metrics) are over
# before a test resets the emulator's counts or injects faults.
sub selfchecked {
    my $self = shift;
    my $deadline = time + 5;
    while (time < $deadline) {
        return $self if $self->error_log =~ /\[kvcache\] self-check: (?:done|skipped)/;
        sleep 0.05;
    }
    return $self;
}

sub stop {
    my $self = shift;
    my $pidfile = "$self->{dir}/httpd.pid";
    return unless -s $pidfile;
    open my $fh, '<', $pidfile or return;
    chomp(my $pid = <$fh> // '');
    close $fh;
    system("$self->{httpd} -f $self->{conf} -k stop >/dev/null 2>&1");
    my $deadline = time + 10;
    sleep 0.05 while $pid && kill(0, $pid) && time < $deadline;
}

# A graceful restart; 1 once the new generation answers.
sub graceful {
    my $self = shift;
    system("$self->{httpd} -f $self->{conf} -k graceful >/dev/null 2>&1");
    return 0 if $?;
    my $deadline = time + 10;
    while (time < $deadline) {
        return 1 if $self->get('/kvcache-status')->code == 200
                    || IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        sleep 0.1;
    }
    return 0;
}

sub DESTROY { $_[0]->stop }

# A client with its own keep-alive connection: with prefork, each client
# talks to one child for as long as it lives.
sub client {
    my $self = shift;
    return LWP::UserAgent->new(keep_alive => 1, timeout => 30);
}

my $seq = 0;

# POSTs a body (and any extra headers) through this server with a fresh
# sequence number; returns (response, seq).
sub post {
    my ($self, $ua, $path, $body, @headers) = @_;
    $seq++;
    my $req = HTTP::Request->new(POST => "http://127.0.0.1:$self->{port}$path",
        ['Content-Type' => 'application/json', 'X-Test-Seq' => $seq, @headers],
        $body);
    return ($ua->request($req), $seq);
}

# The pid of the child that served request number $seq, from the access
# log (written just after the response, so wait for it a little).
sub pid_of {
    my ($self, $wanted) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        if (open my $fh, '<', "$self->{dir}/access_log") {
            while (my $line = <$fh>) {
                my ($pid, $seqno) = split ' ', $line;
                return $pid if defined $seqno && $seqno eq $wanted;
            }
        }
        sleep 0.02;
    }
    return 0;
}

# GETs a path from this server; returns the HTTP::Response.
sub get {
    my ($self, $path, @headers) = @_;
    return LWP::UserAgent->new(timeout => 30)->get(
        "http://127.0.0.1:$self->{port}$path", @headers);
}

sub error_log {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/error_log" or return '';
    local $/;
    return <$fh>;
}

1;
