# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# https upstreams: certificates are verified by default; a self-signed one
# is refused (fallback, logged) unless KVCacheUpstreamCACertificate trusts
# it; KVCacheUpstreamVerify Off accepts it with a startup warning.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 6;

my $vars = Apache::Test::vars();
my $https = "https://127.0.0.1:$vars->{emu_tls_port}";
my $cert = "$vars->{t_logs}/emulator-cert.pem";

sub try_server {
    my ($name, $conf) = @_;
    my $server = KVCache::Server->new(name => $name, lmcache => $https,
        port => $vars->{aux1_port}, conf => $conf)->start;
    emu_reset();
    emu_config(lookup_override => { layout_info => {
        'vllm-c' => ['LocalCPUBackend', 512] } });
    my ($res) = $server->post($server->client, '/v1/chat/completions',
                              chat_body(content => unique_words(9)));
    my $log = $server->error_log;
    $server->stop;
    return ($res, $log);
}

my ($res, $log) = try_server('tls-default', '');
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-error',
         'self-signed certificate refused by default');
ok t_cmp($log =~ /lookup failed: lookup-error.*certificate/i ? 1 : 0, 1,
         'and the reason is logged');

($res, $log) = try_server('tls-ca', "KVCacheUpstreamCACertificate $cert\n");
ok t_cmp(KVCache::Test::decision_of($res), 'routed',
         'accepted with KVCacheUpstreamCACertificate');
ok t_cmp(served_by($res), 'vllm-c', '... and routed by its answer');

($res, $log) = try_server('tls-off', "KVCacheUpstreamVerify Off\n");
ok t_cmp(KVCache::Test::decision_of($res), 'routed',
         'accepted with KVCacheUpstreamVerify Off');
ok t_cmp($log =~ /KVCacheUpstreamVerify Off/ ? 1 : 0, 1,
         'which logs a warning at startup');
emu_config(lookup_override => undef);
