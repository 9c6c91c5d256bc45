//! The paForNode messages, one declaration per complex type, in schema order.
//!
//! Each declaration is the single place where an element's name, position, cardinality and
//! type (and so its facets) are stated; [`crate::xml_struct!`] derives the struct, the strict
//! reader and the writer from it. Types are named after the schema's (`ctQrCode` → `QrCode`).

use super::schema::*;
use crate::xml_struct;

xml_struct! {
    /// `ctQrCode`: the EC fiscal code and the notice number.
    pub struct QrCode {
        fiscal_code: one(FiscalCodePa) = "fiscalCode",
        notice_number: one(NoticeNumberText) = "noticeNumber",
    }
}

xml_struct! {
    /// `ctEntityUniqueIdentifier`
    pub struct EntityUniqueIdentifier {
        kind: one(EntityType) = "entityUniqueIdentifierType",
        value: one(EntityValue) = "entityUniqueIdentifierValue",
    }
}

xml_struct! {
    /// `ctSubject`: debtor or payer.
    pub struct Subject {
        unique_identifier: one(EntityUniqueIdentifier) = "uniqueIdentifier",
        full_name: one(Text70) = "fullName",
        street_name: opt(Text70) = "streetName",
        civic_number: opt(Text16) = "civicNumber",
        postal_code: opt(Text16) = "postalCode",
        city: opt(Text35) = "city",
        state_province_region: opt(Text35) = "stateProvinceRegion",
        country: opt(NazioneProvincia) = "country",
        email: opt(Email) = "e-mail",
    }
}

xml_struct! {
    /// `ctMapEntry`
    pub struct MapEntry {
        key: one(Text140) = "key",
        value: one(Text140) = "value",
    }
}

xml_struct! {
    /// `ctMetadata`: 1..15 entries.
    pub struct Metadata {
        entries: many(MapEntry, 1, 15) = "mapEntry",
    }
}

xml_struct! {
    /// `ctFaultBean`
    pub struct FaultBean {
        fault_code: one(Str) = "faultCode",
        fault_string: one(Str) = "faultString",
        id: one(Str) = "id",
        description: opt(Str) = "description",
        serial: opt(i32) = "serial",
        original_fault_code: opt(Str) = "originalFaultCode",
        original_fault_string: opt(Str) = "originalFaultString",
        original_description: opt(Str) = "originalDescription",
    }
}

xml_struct! {
    /// `ctRichiestaMarcaDaBollo`: a digital stamp instead of an account.
    pub struct RichiestaMarcaDaBollo {
        hash_documento: one(Base64Binary72) = "hashDocumento",
        tipo_bollo: one(TipoBollo) = "tipoBollo",
        provincia_residenza: one(NazioneProvincia) = "provinciaResidenza",
    }
}

xml_struct! {
    /// `ctPaymentOptionDescriptionPA`
    pub struct PaymentOptionDescription {
        amount: one(AmountNotZero) = "amount",
        options: one(AmountOption) = "options",
        due_date: opt(IsoDate) = "dueDate",
        detail_description: opt(Text140) = "detailDescription",
        all_ccp: one(bool) = "allCCP",
    }
}

xml_struct! {
    /// `ctPaymentOptionsDescriptionListPA`: exactly one option.
    pub struct PaymentOptionsList {
        options: many(PaymentOptionDescription, 1, 1) = "paymentOptionDescription",
    }
}

xml_struct! {
    /// `ctTransferPA` (V1 activation and V1 receipt).
    pub struct TransferPa {
        id_transfer: one(IdTransfer) = "idTransfer",
        transfer_amount: one(AmountNotZero) = "transferAmount",
        fiscal_code_pa: one(FiscalCodePa) = "fiscalCodePA",
        iban: one(Iban) = "IBAN",
        remittance_information: one(Text140) = "remittanceInformation",
        transfer_category: one(Text140) = "transferCategory",
        metadata: opt(Metadata) = "metadata",
    }
}

xml_struct! {
    /// `ctTransferListPA`: 1..5 transfers.
    pub struct TransferListPa {
        transfers: many(TransferPa, 1, 5) = "transfer",
    }
}

xml_struct! {
    /// `ctTransferPAV2`: IBAN or a stamp request.
    pub struct TransferPaV2 {
        id_transfer: one(IdTransfer) = "idTransfer",
        transfer_amount: one(AmountNotZero) = "transferAmount",
        fiscal_code_pa: one(FiscalCodePa) = "fiscalCodePA",
        company_name: opt(Text140) = "companyName",
        iban: opt(Iban) = "IBAN",
        richiesta_marca_da_bollo: opt(RichiestaMarcaDaBollo) = "richiestaMarcaDaBollo",
        remittance_information: one(Text140) = "remittanceInformation",
        transfer_category: one(Text140) = "transferCategory",
        metadata: opt(Metadata) = "metadata",
    }
    exactly_one(iban, richiesta_marca_da_bollo);
}

xml_struct! {
    /// `ctTransferListPAV2`
    pub struct TransferListPaV2 {
        transfers: many(TransferPaV2, 1, 5) = "transfer",
    }
}

xml_struct! {
    /// `ctTransferPAReceiptV2`: IBAN or the stamp that was bought.
    pub struct TransferPaReceiptV2 {
        id_transfer: one(IdTransfer) = "idTransfer",
        transfer_amount: one(AmountNotZero) = "transferAmount",
        fiscal_code_pa: one(FiscalCodePa) = "fiscalCodePA",
        company_name: opt(Text140) = "companyName",
        iban: opt(Iban) = "IBAN",
        mbd_attachment: opt(Base64Binary) = "MBDAttachment",
        remittance_information: one(Text140) = "remittanceInformation",
        transfer_category: one(Text140) = "transferCategory",
        metadata: opt(Metadata) = "metadata",
    }
    exactly_one(iban, mbd_attachment);
}

xml_struct! {
    /// `ctTransferListPAReceiptV2`
    pub struct TransferListPaReceiptV2 {
        transfers: many(TransferPaReceiptV2, 1, 5) = "transfer",
    }
}

xml_struct! {
    /// `ctPaymentPA`: what paGetPayment answers.
    pub struct PaymentPa {
        creditor_reference_id: one(Text35) = "creditorReferenceId",
        payment_amount: one(AmountNotZero) = "paymentAmount",
        due_date: one(IsoDate) = "dueDate",
        retention_date: opt(IsoDateTime) = "retentionDate",
        last_payment: opt(bool) = "lastPayment",
        description: one(Text140) = "description",
        company_name: opt(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
        debtor: one(Subject) = "debtor",
        transfer_list: one(TransferListPa) = "transferList",
        metadata: opt(Metadata) = "metadata",
    }
}

xml_struct! {
    /// `ctPaymentPAV2`: what paGetPaymentV2 answers (companyName required).
    pub struct PaymentPaV2 {
        creditor_reference_id: one(Text35) = "creditorReferenceId",
        payment_amount: one(AmountNotZero) = "paymentAmount",
        due_date: one(IsoDate) = "dueDate",
        retention_date: opt(IsoDateTime) = "retentionDate",
        last_payment: opt(bool) = "lastPayment",
        description: one(Text140) = "description",
        company_name: one(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
        debtor: one(Subject) = "debtor",
        transfer_list: one(TransferListPaV2) = "transferList",
        metadata: opt(Metadata) = "metadata",
    }
}

xml_struct! {
    /// `ctReceipt` (paSendRT).
    pub struct Receipt {
        receipt_id: one(Str) = "receiptId",
        notice_number: one(NoticeNumberText) = "noticeNumber",
        fiscal_code: one(FiscalCodePa) = "fiscalCode",
        outcome: one(Outcome) = "outcome",
        creditor_reference_id: one(Text35) = "creditorReferenceId",
        payment_amount: one(Amount) = "paymentAmount",
        description: one(Text140) = "description",
        company_name: one(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
        debtor: one(Subject) = "debtor",
        transfer_list: one(TransferListPa) = "transferList",
        id_psp: one(Text35) = "idPSP",
        psp_fiscal_code: opt(Text70) = "pspFiscalCode",
        psp_partita_iva: opt(Text20) = "pspPartitaIVA",
        psp_company_name: one(Text70) = "PSPCompanyName",
        id_channel: one(Text35) = "idChannel",
        channel_description: one(Text35) = "channelDescription",
        payer: opt(Subject) = "payer",
        payment_method: opt(Text35) = "paymentMethod",
        fee: opt(Amount) = "fee",
        payment_date_time: opt(IsoDateTime) = "paymentDateTime",
        application_date: opt(IsoDate) = "applicationDate",
        transfer_date: opt(IsoDate) = "transferDate",
        metadata: opt(Metadata) = "metadata",
        stand_in: opt(bool) = "standIn",
    }
}

xml_struct! {
    /// `ctReceiptV2` (paSendRTV2).
    pub struct ReceiptV2 {
        receipt_id: one(Str) = "receiptId",
        notice_number: one(NoticeNumberText) = "noticeNumber",
        fiscal_code: one(FiscalCodePa) = "fiscalCode",
        outcome: one(Outcome) = "outcome",
        creditor_reference_id: one(Text35) = "creditorReferenceId",
        payment_amount: one(Amount) = "paymentAmount",
        description: one(Text140) = "description",
        company_name: one(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
        debtor: one(Subject) = "debtor",
        transfer_list: one(TransferListPaReceiptV2) = "transferList",
        id_psp: one(Text35) = "idPSP",
        psp_fiscal_code: opt(Text70) = "pspFiscalCode",
        psp_partita_iva: opt(Text20) = "pspPartitaIVA",
        psp_company_name: one(Text70) = "PSPCompanyName",
        id_channel: one(Text35) = "idChannel",
        channel_description: one(Text35) = "channelDescription",
        payer: opt(Subject) = "payer",
        payment_method: opt(Text35) = "paymentMethod",
        payment_note: opt(Text210) = "paymentNote",
        fee: opt(Amount) = "fee",
        primary_ci_incurred_fee: opt(Amount) = "primaryCiIncurredFee",
        id_bundle: opt(Text70) = "idBundle",
        id_ci_bundle: opt(Text70) = "idCiBundle",
        payment_date_time: opt(IsoDateTime) = "paymentDateTime",
        application_date: opt(IsoDate) = "applicationDate",
        transfer_date: opt(IsoDate) = "transferDate",
        metadata: opt(Metadata) = "metadata",
        stand_in: opt(bool) = "standIn",
    }
}

/// A paSendRT receipt is a paSendRTV2 receipt without the fields V2 added (and with an IBAN on
/// every transfer): both versions are handled as V2.
impl From<Receipt> for ReceiptV2 {
    fn from(r: Receipt) -> Self {
        ReceiptV2 {
            receipt_id: r.receipt_id,
            notice_number: r.notice_number,
            fiscal_code: r.fiscal_code,
            outcome: r.outcome,
            creditor_reference_id: r.creditor_reference_id,
            payment_amount: r.payment_amount,
            description: r.description,
            company_name: r.company_name,
            office_name: r.office_name,
            debtor: r.debtor,
            transfer_list: TransferListPaReceiptV2 {
                transfers: r
                    .transfer_list
                    .transfers
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            },
            id_psp: r.id_psp,
            psp_fiscal_code: r.psp_fiscal_code,
            psp_partita_iva: r.psp_partita_iva,
            psp_company_name: r.psp_company_name,
            id_channel: r.id_channel,
            channel_description: r.channel_description,
            payer: r.payer,
            payment_method: r.payment_method,
            payment_note: None,
            fee: r.fee,
            primary_ci_incurred_fee: None,
            id_bundle: None,
            id_ci_bundle: None,
            payment_date_time: r.payment_date_time,
            application_date: r.application_date,
            transfer_date: r.transfer_date,
            metadata: r.metadata,
            stand_in: r.stand_in,
        }
    }
}

impl From<TransferPa> for TransferPaReceiptV2 {
    fn from(t: TransferPa) -> Self {
        TransferPaReceiptV2 {
            id_transfer: t.id_transfer,
            transfer_amount: t.transfer_amount,
            fiscal_code_pa: t.fiscal_code_pa,
            company_name: None,
            iban: Some(t.iban),
            mbd_attachment: None,
            remittance_information: t.remittance_information,
            transfer_category: t.transfer_category,
            metadata: t.metadata,
        }
    }
}

// ---- requests ------------------------------------------------------------------------------

xml_struct! {
    /// `paVerifyPaymentNoticeReq`
    pub struct PaVerifyPaymentNoticeReq {
        id_pa: one(Text35) = "idPA",
        id_broker_pa: one(Text35) = "idBrokerPA",
        id_station: one(Text35) = "idStation",
        qr_code: one(QrCode) = "qrCode",
    }
}

xml_struct! {
    /// `paGetPaymentReq` and `paGetPaymentV2Request` (same content).
    pub struct PaGetPaymentReq {
        id_pa: one(Text35) = "idPA",
        id_broker_pa: one(Text35) = "idBrokerPA",
        id_station: one(Text35) = "idStation",
        qr_code: one(QrCode) = "qrCode",
        amount: opt(Amount) = "amount",
        payment_note: opt(Text210) = "paymentNote",
        transfer_type: opt(TransferType) = "transferType",
        due_date: opt(IsoDate) = "dueDate",
    }
}

xml_struct! {
    /// `paSendRTReq`
    pub struct PaSendRtReq {
        id_pa: one(Text35) = "idPA",
        id_broker_pa: one(Text35) = "idBrokerPA",
        id_station: one(Text35) = "idStation",
        receipt: one(Box<Receipt>) = "receipt",
    }
}

xml_struct! {
    /// `paSendRTV2Request`
    pub struct PaSendRtV2Request {
        id_pa: one(Text35) = "idPA",
        id_broker_pa: one(Text35) = "idBrokerPA",
        id_station: one(Text35) = "idStation",
        receipt: one(Box<ReceiptV2>) = "receipt",
    }
}

xml_struct! {
    /// `paDemandPaymentNoticeRequest`
    pub struct PaDemandPaymentNoticeRequest {
        id_pa: one(Text35) = "idPA",
        id_broker_pa: one(Text35) = "idBrokerPA",
        id_station: one(Text35) = "idStation",
        id_servizio: one(Text5) = "idServizio",
        id_soggetto_servizio: one(Text5) = "idSoggettoServizio",
        dati_specifici_servizio_request: one(Base64Binary) = "datiSpecificiServizioRequest",
    }
}

// ---- responses -----------------------------------------------------------------------------

xml_struct! {
    /// `paVerifyPaymentNoticeRes`
    pub struct PaVerifyPaymentNoticeRes {
        outcome: one(Outcome) = "outcome",
        fault: opt(FaultBean) = "fault",
        payment_list: opt(PaymentOptionsList) = "paymentList",
        payment_description: opt(Text140) = "paymentDescription",
        fiscal_code_pa: opt(FiscalCodePa) = "fiscalCodePA",
        company_name: opt(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
    }
}

xml_struct! {
    /// `paGetPaymentRes`
    pub struct PaGetPaymentRes {
        outcome: one(Outcome) = "outcome",
        fault: opt(FaultBean) = "fault",
        data: opt(PaymentPa) = "data",
    }
}

xml_struct! {
    /// `paGetPaymentV2Response`
    pub struct PaGetPaymentV2Response {
        outcome: one(Outcome) = "outcome",
        fault: opt(FaultBean) = "fault",
        data: opt(PaymentPaV2) = "data",
    }
}

xml_struct! {
    /// `paSendRTRes` and `paSendRTV2Response`: just the outcome.
    pub struct PaSendRtRes {
        outcome: one(Outcome) = "outcome",
        fault: opt(FaultBean) = "fault",
    }
}

xml_struct! {
    /// `paDemandPaymentNoticeResponse`
    pub struct PaDemandPaymentNoticeResponse {
        outcome: one(Outcome) = "outcome",
        fault: opt(FaultBean) = "fault",
        qr_code: opt(QrCode) = "qrCode",
        payment_list: opt(PaymentOptionsList) = "paymentList",
        payment_description: opt(Text140) = "paymentDescription",
        fiscal_code_pa: opt(FiscalCodePa) = "fiscalCodePA",
        company_name: opt(Text140) = "companyName",
        office_name: opt(Text140) = "officeName",
    }
}

/// The six operations of the paForNode port type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Operation {
    /// paVerifyPaymentNotice
    VerifyPaymentNotice,
    /// paGetPayment
    GetPayment,
    /// paGetPaymentV2
    GetPaymentV2,
    /// paSendRT
    SendRt,
    /// paSendRTV2
    SendRtV2,
    /// paDemandPaymentNotice
    DemandPaymentNotice,
}

impl Operation {
    /// Every operation, in WSDL order.
    pub const ALL: [Operation; 6] = [
        Operation::DemandPaymentNotice,
        Operation::VerifyPaymentNotice,
        Operation::GetPayment,
        Operation::GetPaymentV2,
        Operation::SendRt,
        Operation::SendRtV2,
    ];

    /// The operation name, which is also its SOAPAction.
    pub fn name(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNotice",
            Operation::GetPayment => "paGetPayment",
            Operation::GetPaymentV2 => "paGetPaymentV2",
            Operation::SendRt => "paSendRT",
            Operation::SendRtV2 => "paSendRTV2",
            Operation::DemandPaymentNotice => "paDemandPaymentNotice",
        }
    }

    /// Local name of the request's body element (note the V1/V2 suffix styles).
    pub fn request_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeReq",
            Operation::GetPayment => "paGetPaymentReq",
            Operation::GetPaymentV2 => "paGetPaymentV2Request",
            Operation::SendRt => "paSendRTReq",
            Operation::SendRtV2 => "paSendRTV2Request",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeRequest",
        }
    }

    /// Local name of the response's body element.
    pub fn response_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeRes",
            Operation::GetPayment => "paGetPaymentRes",
            Operation::GetPaymentV2 => "paGetPaymentV2Response",
            Operation::SendRt => "paSendRTRes",
            Operation::SendRtV2 => "paSendRTV2Response",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeResponse",
        }
    }

    /// The operation named by a SOAPAction value (surrounding quotes already removed).
    pub fn from_action(action: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == action)
    }

    /// The operation whose request element is `name`.
    pub fn from_request_element(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.request_element() == name)
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// paVerifyPaymentNotice
    Verify(PaVerifyPaymentNoticeReq),
    /// paGetPayment
    GetPayment(PaGetPaymentReq),
    /// paGetPaymentV2
    GetPaymentV2(PaGetPaymentReq),
    /// paSendRT
    SendRt(PaSendRtReq),
    /// paSendRTV2
    SendRtV2(PaSendRtV2Request),
    /// paDemandPaymentNotice
    Demand(PaDemandPaymentNoticeRequest),
}

impl Request {
    /// Reads the body element of `op` strictly.
    pub fn read(op: Operation, el: &super::xml::Element) -> Result<Self, SchemaError> {
        let name = op.request_element();
        let wrap = |e: SchemaError| e.within(name);
        Ok(match op {
            Operation::VerifyPaymentNotice => Request::Verify(XmlType::read(el).map_err(wrap)?),
            Operation::GetPayment => Request::GetPayment(XmlType::read(el).map_err(wrap)?),
            Operation::GetPaymentV2 => Request::GetPaymentV2(XmlType::read(el).map_err(wrap)?),
            Operation::SendRt => Request::SendRt(XmlType::read(el).map_err(wrap)?),
            Operation::SendRtV2 => Request::SendRtV2(XmlType::read(el).map_err(wrap)?),
            Operation::DemandPaymentNotice => Request::Demand(XmlType::read(el).map_err(wrap)?),
        })
    }

    /// The creditor the request is about: the notice's or the receipt's fiscal code (idPA for
    /// paDemandPaymentNotice, which names no notice).
    pub fn creditor(&self) -> &str {
        match self {
            Request::Verify(r) => r.qr_code.fiscal_code.as_str(),
            Request::GetPayment(r) | Request::GetPaymentV2(r) => r.qr_code.fiscal_code.as_str(),
            Request::SendRt(r) => r.receipt.fiscal_code.as_str(),
            Request::SendRtV2(r) => r.receipt.fiscal_code.as_str(),
            Request::Demand(r) => r.id_pa.as_str(),
        }
    }

    /// The three header fields every request carries: (idPA, idBrokerPA, idStation).
    pub fn header(&self) -> (&str, &str, &str) {
        macro_rules! h {
            ($r:expr) => {
                (
                    $r.id_pa.as_str(),
                    $r.id_broker_pa.as_str(),
                    $r.id_station.as_str(),
                )
            };
        }
        match self {
            Request::Verify(r) => h!(r),
            Request::GetPayment(r) | Request::GetPaymentV2(r) => h!(r),
            Request::SendRt(r) => h!(r),
            Request::SendRtV2(r) => h!(r),
            Request::Demand(r) => h!(r),
        }
    }
}

/// A response ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// paVerifyPaymentNoticeRes
    Verify(PaVerifyPaymentNoticeRes),
    /// paGetPaymentRes
    GetPayment(PaGetPaymentRes),
    /// paGetPaymentV2Response
    GetPaymentV2(PaGetPaymentV2Response),
    /// paSendRTRes or paSendRTV2Response
    SendRt(Operation, PaSendRtRes),
    /// paDemandPaymentNoticeResponse
    Demand(PaDemandPaymentNoticeResponse),
}

impl Response {
    /// The operation this answers.
    pub fn operation(&self) -> Operation {
        match self {
            Response::Verify(_) => Operation::VerifyPaymentNotice,
            Response::GetPayment(_) => Operation::GetPayment,
            Response::GetPaymentV2(_) => Operation::GetPaymentV2,
            Response::SendRt(op, _) => *op,
            Response::Demand(_) => Operation::DemandPaymentNotice,
        }
    }

    /// A KO answer of the right shape for `op`.
    pub fn ko(op: Operation, fault: FaultBean) -> Self {
        let fault = Some(fault);
        let outcome = Outcome::Ko;
        match op {
            Operation::VerifyPaymentNotice => Response::Verify(PaVerifyPaymentNoticeRes {
                outcome,
                fault,
                payment_list: None,
                payment_description: None,
                fiscal_code_pa: None,
                company_name: None,
                office_name: None,
            }),
            Operation::GetPayment => Response::GetPayment(PaGetPaymentRes {
                outcome,
                fault,
                data: None,
            }),
            Operation::GetPaymentV2 => Response::GetPaymentV2(PaGetPaymentV2Response {
                outcome,
                fault,
                data: None,
            }),
            Operation::SendRt | Operation::SendRtV2 => {
                Response::SendRt(op, PaSendRtRes { outcome, fault })
            }
            Operation::DemandPaymentNotice => Response::Demand(PaDemandPaymentNoticeResponse {
                outcome,
                fault,
                qr_code: None,
                payment_list: None,
                payment_description: None,
                fiscal_code_pa: None,
                company_name: None,
                office_name: None,
            }),
        }
    }

    /// The outcome and, on KO, the fault code.
    pub fn outcome(&self) -> (Outcome, Option<&str>) {
        let (outcome, fault) = self.parts();
        (outcome, fault.map(|f| f.fault_code.0.as_str()))
    }

    /// The fault's description, on KO.
    pub fn fault_description(&self) -> Option<&str> {
        self.parts()
            .1
            .and_then(|f| f.description.as_ref())
            .map(|d| d.0.as_str())
    }

    fn parts(&self) -> (Outcome, Option<&FaultBean>) {
        let (outcome, fault) = match self {
            Response::Verify(r) => (r.outcome, &r.fault),
            Response::GetPayment(r) => (r.outcome, &r.fault),
            Response::GetPaymentV2(r) => (r.outcome, &r.fault),
            Response::SendRt(_, r) => (r.outcome, &r.fault),
            Response::Demand(r) => (r.outcome, &r.fault),
        };
        (outcome, fault.as_ref())
    }

    /// Writes the children of the response element.
    pub fn write_children(&self, w: &mut XmlWriter) {
        match self {
            Response::Verify(r) => r.write_children(w),
            Response::GetPayment(r) => r.write_children(w),
            Response::GetPaymentV2(r) => r.write_children(w),
            Response::SendRt(_, r) => r.write_children(w),
            Response::Demand(r) => r.write_children(w),
        }
    }
}
