# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Every bad value fails the configuration test (httpd -t, as apachectl -t
# runs it) with a message that names the directive.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use lib 't/lib';
use KVCache::Server ();

my @bad = (
    [ 'KVCacheEnable maybe' ],
    [ 'KVCacheVLLMEndpoint ftp://127.0.0.1:8000' ],
    [ 'KVCacheVLLMEndpoint 127.0.0.1:8000' ],
    [ 'KVCacheLMCacheEndpoint http://127.0.0.1:9000/?x=1' ],
    [ 'KVCacheDefaultModel a b' ],
    [ 'KVCacheRequestTimeout 10x' ],
    [ 'KVCacheRequestTimeout 0' ],
    [ 'KVCacheLookupTimeout -50ms' ],
    [ 'KVCacheLookupTimeout 1.5s' ],
    [ 'KVCacheTokenizeTimeout soon' ],
    [ 'KVCacheTokenCache maybe' ],
    [ 'KVCacheTokenCacheSize 0' ],
    [ 'KVCacheTokenCacheSize lots' ],
    [ 'KVCacheTokenCacheSize 10', '<Location "/x">', '</Location>' ],
    [ 'KVCacheTokenCacheTTL 0' ],
    [ 'KVCacheTokenCacheTTL 5y' ],
    [ 'KVCacheMaxBodySize 10X' ],
    [ 'KVCacheMaxBodySize 0' ],
    [ 'KVCacheMaxBodySize 2G' ],
    [ 'KVCacheMinMatchTokens 0' ],
    [ 'KVCacheMinMatchTokens many' ],
    [ 'KVCacheLoadWeight -1' ],
    [ 'KVCacheLoadWeight nan' ],
    [ 'KVCacheLoadWeight 0.5x' ],
    [ 'KVCacheFallbackLBMethod kvcache' ],
    [ 'KVCacheFallbackLBMethod random' ],
    [ 'KVCacheTokenCacheStore nosuch' ],
    [ 'KVCacheTokenCacheStore shmcb:/tmp/x(100)' ],
    [ 'KVCacheTokenCacheStore shmcb', '<VirtualHost *:80>', '</VirtualHost>' ],
    [ 'KVCacheCircuitBreaker 0 10s 2' ],
    [ 'KVCacheCircuitBreaker 5 never 2' ],
    [ 'KVCacheCircuitBreaker 5 10s 0' ],
    [ 'KVCacheCircuitBreaker 5 10s' ],
    [ 'KVCacheRetry 0 100ms 2s' ],
    [ 'KVCacheRetry 3 2s 100ms' ],
    [ 'KVCacheRetry 3 0 2s' ],
    [ 'KVCacheUpstreamCACertificate /nonexistent/ca.pem' ],
    [ 'KVCacheUpstreamVerify sometimes' ],
    [ 'KVCacheTokenize sometimes' ],
    [ 'KVCacheHotWindow 0' ],
    [ 'KVCacheHotWindow a-while' ],
    [ 'KVCacheHotMaxRecords 0' ],
    [ 'KVCacheHotMaxKeys lots' ],
    [ 'KVCacheHotMaxKeys 64', '<Location "/x">', '</Location>' ],
    [ 'KVCacheInstanceCapacity 0' ],
    [ 'KVCacheScrapeInterval never' ],
    [ 'KVCacheActionInterval -1s' ],
    [ 'KVCacheActionQueueSize 0' ],
    [ 'KVCachePinning maybe' ],
    [ 'KVCacheCompression maybe' ],
    [ 'KVCacheEviction maybe' ],
    [ 'KVCacheHotThreshold 0' ],
    [ 'KVCacheLoadThreshold 1.5' ],
    [ 'KVCacheMemoryThreshold -0.1' ],
    [ 'KVCachePin auto "Local CPU"' ],
    [ 'KVCachePin auto' ],
    [ 'KVCacheCompress vllm/a LocalCPUBackend' ],
    [ 'KVCacheCompress auto LocalCPUBackend "zstd level 3"' ],
    [ 'KVCacheCompress auto LocalCPUBackend zstd' ],
    [ 'KVCacheEvict auto LocalCPUBackend' ],
    [ 'KVCacheEvictAPI delete' ],
    [ 'KVCacheFleetStore 127.0.0.1:6379' ],
    [ 'KVCacheFleetStore redis:127.0.0.1' ],
    [ 'KVCacheFleetStore redis:127.0.0.1:99999' ],
    [ 'KVCacheFleetStore redis:127.0.0.1:6379/a:b' ],
    [ 'KVCacheFleetStore redis:127.0.0.1:6379', '<VirtualHost *:80>',
      '</VirtualHost>' ],
    [ 'KVCacheFleetTimeout 0' ],
    [ 'KVCacheFleetTimeout 5s' ],
);

# Configurations that parse but do not hang together.
my $endpoints = "KVCacheVLLMEndpoint http://127.0.0.1:8000\n"
              . "KVCacheLMCacheEndpoint http://127.0.0.1:9000";
my @inconsistent = (
    [ 'KVCacheVLLMEndpoint', "KVCacheLMCacheEndpoint http://127.0.0.1:9000\n"
      . "<Location /v1/>\nKVCacheEnable On\n</Location>" ],
    [ 'KVCacheLMCacheEndpoint', "KVCacheVLLMEndpoint http://127.0.0.1:8000\n"
      . "KVCacheEnable On" ],
    [ 'KVCacheFallbackLBMethod', "KVCacheFallbackLBMethod bytraffic" ],
    [ 'KVCacheTokenCacheStore', "KVCacheTokenCacheStore memcache:127.0.0.1:1" ],
    [ 'KVCachePin', "$endpoints\nKVCacheEnable On\nKVCachePinning On" ],
    [ 'KVCacheCompress',
      "$endpoints\nKVCacheEnable On\nKVCacheCompression On" ],
    [ 'KVCacheEvict', "$endpoints\nKVCacheEnable On\nKVCacheEviction On" ],
    [ 'KVCacheHotThreshold', "$endpoints\nKVCacheEnable On\n"
      . "KVCachePinning On\nKVCachePin auto LocalCPUBackend\n"
      . "KVCacheHotMaxRecords 100\nKVCacheHotThreshold 200" ],
);

plan tests => 2 * @bad + 2 * @inconsistent + 5;

my $vars = Apache::Test::vars();
my $dir = tempdir(CLEANUP => 1);

sub config_test {
    my ($extra) = @_;
    my $file = "$dir/httpd.conf";
    open my $fh, '>', $file or die "$file: $!";
    print $fh KVCache::Server::base_conf($dir, $vars->{port},
        qq{Define APACHE_LOG_DIR "$dir"\n$extra});
    close $fh;
    my $out = `$vars->{httpd} -t -f $file 2>&1`;
    return ($? >> 8, $out);
}

my $good = <<'GOOD';
KVCacheVLLMEndpoint http://127.0.0.1:8000/
KVCacheLMCacheEndpoint https://lmcache.example:9000
KVCacheDefaultModel demo
KVCacheRequestTimeout 2
KVCacheLookupTimeout 50ms
KVCacheTokenizeTimeout 200ms
KVCacheTokenCache On
KVCacheTokenCacheSize 4096
KVCacheTokenCacheTTL 1h
KVCacheMaxBodySize 16M
KVCacheMinMatchTokens 256
KVCacheLoadWeight 0.5
KVCacheFallbackLBMethod bybusyness
KVCacheTokenCacheStore shmcb
KVCacheCircuitBreaker 5 10s 2
KVCacheRetry 3 100ms 2s
KVCacheUpstreamVerify On
KVCacheTokenize sync
KVCacheHotWindow 5m
KVCacheHotMaxRecords 300
KVCacheHotMaxKeys 4096
KVCacheInstanceCapacity 256
KVCacheScrapeInterval 5s
KVCacheActionInterval 30s
KVCacheActionQueueSize 64
KVCacheFleetStore redis:127.0.0.1:6379/gw
KVCacheFleetTimeout 20ms
KVCachePinning On
KVCacheHotThreshold 10
KVCachePin auto LocalCPUBackend
KVCacheCompression On
KVCacheLoadThreshold 0.7
KVCacheCompress auto LocalCPUBackend cachegen
KVCacheEviction On
KVCacheMemoryThreshold 0.85
KVCacheEvict vllm-a LocalCPUBackend
KVCacheEvictAPI clear
<Proxy "balancer://llm">
    BalancerMember "http://127.0.0.1:8001" route=vllm-a
    ProxySet lbmethod=kvcache
</Proxy>
<Location "/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheLoadWeight 0
</Location>
GOOD
my ($rc, $out) = config_test($good);
t_debug($out);
ok t_cmp($rc, 0, 'a complete configuration passes');
ok t_cmp($out =~ /Syntax OK/ ? 1 : 0, 1, 'Syntax OK');

# The shipped example configuration is valid as it stands.
($rc, $out) = config_test(
    qq{Include "$vars->{kvc_top}/conf/httpd-kvcache-example.conf"});
t_debug($out);
ok t_cmp($rc, 0, 'conf/httpd-kvcache-example.conf passes');

# lbmethod=kvcache is known to the balancer once the module is loaded.
($rc, $out) = config_test("<Proxy balancer://x>\nProxySet lbmethod=nosuch\n"
                          . "</Proxy>");
ok t_cmp($rc != 0 ? 1 : 0, 1, 'an unknown lbmethod is refused (control)');
($rc, $out) = config_test("<Proxy balancer://x>\nProxySet lbmethod=kvcache\n"
                          . "</Proxy>");
ok t_cmp($rc, 0, 'lbmethod=kvcache is accepted');

for my $case (@bad) {
    my ($line, $open, $close) = @$case;
    my ($directive) = split ' ', $line;
    my $conf = $open ? "$open\n$line\n$close" : $line;
    ($rc, $out) = config_test($conf);
    t_debug("$line => $out");
    ok t_cmp($rc != 0 ? 1 : 0, 1, "'$line' fails the config test");
    ok t_cmp($out =~ /\Q$directive\E/ ? 1 : 0, 1, "... naming $directive");
}

for my $case (@inconsistent) {
    my ($named, $conf) = @$case;
    ($rc, $out) = config_test($conf);
    t_debug("$conf => $out");
    ok t_cmp($rc != 0 ? 1 : 0, 1, "missing $named fails the config test");
    ok t_cmp($out =~ /\Q$named\E/ ? 1 : 0, 1, "... naming $named");
}
